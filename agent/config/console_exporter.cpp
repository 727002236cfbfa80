#include "config/console_exporter.hpp"

#include "config/schema.hpp"

namespace sidelight::config {
namespace {

schema::key<console_exporter> format_key(std::string_view help) {
  using s = console_exporter;
  return schema::choice_key("format", &s::style,
                            {{"text", s::format::text}, {"json", s::format::json}}, help);
}

}  // namespace

const schema::table<console_exporter>& console_exporter_table() {
  static const schema::table<console_exporter> keys({
      format_key("text: one line per resource, log record or span; json: OTLP/JSON lines."),
  });
  return keys;
}

const schema::table<console_exporter>& file_exporter_table() {
  using namespace schema;
  using s = console_exporter;
  static const table<s> keys(
      {
          path_key("path", &s::path,
                   "Required: the file appended to. One that cannot be opened stops the start "
                   "(exit 2) or refuses the reload.",
                   absolute("file path")),
          format_key("json: one OTLP/JSON request a line, with hex ids; text: the console's "
                     "lines."),
      },
      [](const map_view& m, s&) {
        if (!m.has("path")) m.error("path", "missing; give an absolute file path");
      });
  return keys;
}

}  // namespace sidelight::config
