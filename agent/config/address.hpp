// Network addresses as the configuration writes them: HOST:PORT, URLs and unix: paths.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace sidelight::config {

struct endpoint {
  enum class scheme { none, http, https, unix_path };
  scheme kind = scheme::none;
  std::string host;
  std::uint16_t port = 0;
  std::string path;      // unix socket path
  std::string url_path;  // http(s) base path without a trailing '/', when allowed (OTLP/HTTP)
  std::string text;      // as configured
};

// "host:port", "http://host:port", "https://host:port", "unix:/path" or "unix:///path".
// With `allow_path`, http(s) URLs may carry a base path ("https://host/otlp"), kept in url_path.
// Returns an error message on failure.
std::variant<endpoint, std::string> parse_endpoint(std::string_view text,
                                                   std::uint16_t default_port,
                                                   bool allow_path = false);

// "host:port" or "[v6]:port"; the host may be empty (":port"); the port is not 0.
bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port);

bool is_ip_literal(const std::string& host);

}  // namespace sidelight::config
