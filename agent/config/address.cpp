#include "config/address.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace sidelight::config {
namespace {

bool parse_port(std::string_view text, std::uint16_t& port) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

}  // namespace

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view h;
  std::string_view p;
  if (text.starts_with("[")) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) return false;  // bare IPv6 needs brackets
  }
  host = std::string(h);
  return parse_port(p, port) && port != 0;
}

std::variant<endpoint, std::string> parse_endpoint(std::string_view text,
                                                   std::uint16_t default_port, bool allow_path) {
  endpoint e;
  e.text = std::string(text);
  std::string_view rest = text;
  if (rest.starts_with("unix://")) {
    rest.remove_prefix(7);
    e.kind = endpoint::scheme::unix_path;
  } else if (rest.starts_with("unix:")) {
    rest.remove_prefix(5);
    e.kind = endpoint::scheme::unix_path;
  }
  if (e.kind == endpoint::scheme::unix_path) {
    if (!rest.starts_with("/")) return "expected unix:/absolute/path, got '" + e.text + "'";
    e.path = std::string(rest);
    return e;
  }
  if (rest.starts_with("http://")) {
    e.kind = endpoint::scheme::http;
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    e.kind = endpoint::scheme::https;
    rest.remove_prefix(8);
  } else if (rest.find("://") != std::string_view::npos) {
    return "unsupported scheme in '" + e.text + "'; use http://, https:// or unix:";
  }
  while (rest.ends_with("/"))
    rest.remove_suffix(1);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (!allow_path || e.kind == endpoint::scheme::none) {
      return "expected HOST:PORT without a path, got '" + e.text + "'";
    }
    e.url_path = std::string(rest.substr(slash));
    rest = rest.substr(0, slash);
  }
  if (rest.empty()) return "expected HOST:PORT, got '" + e.text + "'";
  std::string host;
  std::uint16_t port = 0;
  if (split_host_port(rest, host, port)) {
    e.host = host;
    e.port = port;
  } else if (rest.find(':') == std::string_view::npos ||
             (rest.starts_with("[") && rest.ends_with("]"))) {
    e.host = std::string(rest.starts_with("[") ? rest.substr(1, rest.size() - 2) : rest);
    e.port = default_port;
  } else {
    return "expected HOST:PORT, got '" + e.text + "'";
  }
  if (e.host.empty()) return "missing host in '" + e.text + "'";
  return e;
}

}  // namespace sidelight::config
