// The console exporter, and the file exporter, which is the same writing OTLP/JSON lines (by
// default) appended to `path`.
#pragma once

#include "config/common.hpp"

namespace sidelight::config {

struct console_exporter {
  enum class format { text, json };
  std::string name;
  format style = format::text;
  std::string path;  // empty: standard output
};

const schema::table<console_exporter>& console_exporter_table();
const schema::table<console_exporter>& file_exporter_table();

}  // namespace sidelight::config
