#include "config/log.hpp"

#include "config/schema.hpp"

namespace sidelight::config {

const schema::table<log_settings>& log_table() {
  using namespace schema;
  using s = log_settings;
  static const table<s> keys({
      word_key("level", &s::level, {"trace", "debug", "info", "warn", "error", "off"},
               "The least severe message logged; --log-level overrides it."),
      choice_key("format", &s::style, {{"text", s::format::text}, {"json", s::format::json}},
                 "text, or json: one JSON object per line on stderr, with target, instance, pid, "
                 "exporter and error where known. Under systemd (stderr is the journal) each line "
                 "starts with its syslog priority (<4>...) and has no timestamp."),
  });
  return keys;
}

}  // namespace sidelight::config
