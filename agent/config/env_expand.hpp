// `${env:NAME}`, `${env:NAME:-default}` (and the short `${NAME}`) inside configuration values;
// `$$` stands for a literal `$`.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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

// "k1=v1,k2=v2" as OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS write it, each side
// trimmed and percent-decoded; `ok` turns false when an entry is not key=value (it is skipped).
std::vector<std::pair<std::string, std::string>> parse_key_value_list(std::string_view text,
                                                                      bool& ok);

}  // namespace sidelight::config
