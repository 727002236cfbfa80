// Reads a YAML configuration file into a validated `config`, collecting every problem at once.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/address.hpp"
#include "config/config.hpp"
#include "config/env_expand.hpp"

namespace sidelight::config {

struct problem {
  enum class severity { error, warning };
  severity level = severity::error;
  position where;
  std::string message;
};

// "file:line:column: error: message"
std::string format_problem(const problem& p);

struct load_result {
  std::optional<config> value;  // set only when there is no error
  std::vector<problem> problems;
  bool ok() const { return value.has_value(); }
  std::size_t error_count() const;
};

load_result load_file(const std::string& path, const env_lookup& env = process_environment());
load_result load_text(std::string_view yaml, const std::string& source_name,
                      const env_lookup& env = process_environment());

// Closest candidate by edit distance, when it is close enough to be a likely typo.
std::optional<std::string> did_you_mean(std::string_view word,
                                        const std::vector<std::string_view>& candidates);

}  // namespace sidelight::config
