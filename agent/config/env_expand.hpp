// `${env:NAME}`, `${env:NAME:-default}` (and the short `${NAME}`) inside configuration values;
// `$$` stands for a literal `$`.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sidelight::config {

using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

// Reads the process environment.
env_lookup process_environment();

struct expansion {
  std::string value;
  std::vector<std::string> unset;  // variables referenced without a default and not set
  std::string error;               // non-empty when the text is malformed
};

expansion expand_env(std::string_view text, const env_lookup& lookup);

}  // namespace sidelight::config
