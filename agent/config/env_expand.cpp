#include "config/env_expand.hpp"

#include <charconv>
#include <cstdlib>

namespace sidelight::config {
namespace {

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (digit && i > 0))) return false;
  }
  return true;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      unsigned v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ')
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_key_value_list(std::string_view text,
                                                                      bool& ok) {
  std::vector<std::pair<std::string, std::string>> out;
  ok = true;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      ok = false;
      continue;
    }
    out.emplace_back(percent_decode(trim(item.substr(0, eq))),
                     percent_decode(trim(item.substr(eq + 1))));
  }
  return out;
}

env_lookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
  };
}

expansion expand_env(std::string_view text, const env_lookup& lookup) {
  expansion out;
  out.value.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out.value.push_back(c);
      ++i;
      continue;
    }
    if (text[i + 1] == '$') {
      out.value.push_back('$');
      i += 2;
      continue;
    }
    if (text[i + 1] != '{') {
      out.value.push_back(c);
      ++i;
      continue;
    }
    auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      out.error = "unterminated '${' (write '$$' for a literal '$')";
      return out;
    }
    std::string_view body = text.substr(i + 2, close - i - 2);
    if (body.starts_with("env:")) body.remove_prefix(4);
    std::optional<std::string_view> fallback;
    if (auto dash = body.find(":-"); dash != std::string_view::npos) {
      fallback = body.substr(dash + 2);
      body = body.substr(0, dash);
    }
    if (!valid_name(body)) {
      out.error = "'${" + std::string(text.substr(i + 2, close - i - 2)) +
                  "}' is not a variable reference; expected ${env:NAME} or ${env:NAME:-default}";
      return out;
    }
    std::string name(body);
    auto value = lookup(name);
    if (value && !(value->empty() && fallback)) {
      out.value += *value;
    } else if (fallback) {
      out.value += *fallback;
    } else {
      out.unset.push_back(name);
    }
    i = close + 1;
  }
  return out;
}

}  // namespace sidelight::config
