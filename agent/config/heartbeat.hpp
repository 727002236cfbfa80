// The heartbeat section: how often each target's state is exported.
#pragma once

#include "config/common.hpp"

namespace sidelight::config {

struct heartbeat_settings {
  duration interval = std::chrono::seconds(15);
  // How often /proc is rescanned for `process` targets. With kernel process events available
  // (CAP_NET_ADMIN) new processes are seen at once and this is only a safety net.
  duration discovery_interval = std::chrono::milliseconds(500);
};

const schema::table<heartbeat_settings>& heartbeat_table();

}  // namespace sidelight::config
