// The systemd notification protocol (sd_notify(3)) without libsystemd: one datagram with
// "READY=1", "RELOADING=1", "STOPPING=1" or "WATCHDOG=1" to the socket named by $NOTIFY_SOCKET,
// never waiting for it. A no-op when sidelight does not run under systemd (the variable is unset).
#pragma once

#include <string_view>

namespace sidelight::app {

void notify_systemd(std::string_view state);

}  // namespace sidelight::app
