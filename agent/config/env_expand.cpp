#include "config/env_expand.hpp"

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

}  // namespace

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
