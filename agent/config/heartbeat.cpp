#include "config/heartbeat.hpp"

#include "config/schema.hpp"

namespace sidelight::config {

using namespace std::chrono_literals;

const schema::table<heartbeat_settings>& heartbeat_table() {
  using namespace schema;
  using s = heartbeat_settings;
  static const table<s> keys({
      duration_key("interval", &s::interval,
                   "How often each target's state is exported in the steady state. A change (up, "
                   "down, restart) is exported at once, whatever the interval; each target may "
                   "override it with its own `interval`.",
                   {.range = {.min = 1s}}),
      duration_key("discovery_interval", &s::discovery_interval,
                   "Without the kernel's process events (they need CAP_NET_ADMIN), how often "
                   "/proc is scanned for new processes matching a `process` target. With them, "
                   "new processes are seen at once and a full scan runs every 30s as a safety net.",
                   {.range = {.min = 50ms}}),
  });
  return keys;
}

}  // namespace sidelight::config
