// The event sent when an instance's process ends: one OTLP log record on that instance's
// Resource, named `sidelight.instance.exit`, whose body says in one line how it ended and whose
// attributes say it for machines (process.exit.code, the signal, the core dump, the OOM kill and
// service.down.reason). WARN for an exit, ERROR for a signal or an OOM kill.
#pragma once

#include <cstdint>
#include <string>

#include "opentelemetry/proto/logs/v1/logs.pb.h"
#include "watch/exit_reason.hpp"

namespace sidelight::heartbeat {

inline constexpr const char* kExitEventName = "sidelight.instance.exit";

opentelemetry::proto::logs::v1::ResourceLogs build_exit_event(
    opentelemetry::proto::resource::v1::Resource resource, const std::string& service,
    const watch::exit_info& exit, std::int64_t now_unix_ns);

}  // namespace sidelight::heartbeat
