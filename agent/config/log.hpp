// The log section: sidelight's own log on stderr.
#pragma once

#include "config/common.hpp"

namespace sidelight::config {

struct log_settings {
  enum class format { text, json };
  std::string level = "info";
  format style = format::text;
};

const schema::table<log_settings>& log_table();

}  // namespace sidelight::config
