#include "config/retry.hpp"

#include "config/schema.hpp"

namespace sidelight::config {

const schema::table<retry_settings>& retry_table() {
  using namespace schema;
  using s = retry_settings;
  static const table<s> keys(
      {
          flag_key("enabled", &s::enabled,
                   "false: client telemetry that fails to export is not retried (heartbeats "
                   "always are)."),
          duration_key("initial_interval", &s::initial_interval,
                       "The first wait after a failed export. Each wait is drawn between half "
                       "and all of its ceiling (jitter), and is never shorter than the "
                       "upstream's RetryInfo delay or Retry-After.",
                       {.range = {.positive = true}}),
          duration_key("max_interval", &s::max_interval,
                       "The ceiling the waits grow to; at least initial_interval."),
          number_key("multiplier", &s::multiplier, "What each wait's ceiling is multiplied by.",
                     {.range = {.min = 1.0, .max = 10.0}}),
          duration_key("max_elapsed_time", &s::max_elapsed_time,
                       "A batch of client telemetry still failing after this long is dropped "
                       "(retry_exhausted); 0: never. With a spool the default is 0: the spool's "
                       "max_bytes decides what an outage costs. Heartbeats are never given up: "
                       "the latest state of every instance is kept.",
                       {.fallback = "5m (0 with a spool)"}),
      },
      [](const map_view& m, s& r) {
        if (r.max_interval < r.initial_interval) {
          m.error_at_key("max_interval", "must not be below initial_interval");
        }
      });
  return keys;
}

}  // namespace sidelight::config
