#include "heartbeat/exit_event.hpp"

#include "agent_version.hpp"
#include "heartbeat/metrics_builder.hpp"

namespace sidelight::heartbeat {

namespace logs = opentelemetry::proto::logs::v1;

logs::ResourceLogs build_exit_event(opentelemetry::proto::resource::v1::Resource resource,
                                    const std::string& service, const watch::exit_info& exit,
                                    std::int64_t now_unix_ns) {
  logs::ResourceLogs rl;
  *rl.mutable_resource() = std::move(resource);
  rl.set_schema_url(kSchemaUrl);
  auto* scope = rl.add_scope_logs();
  scope->mutable_scope()->set_name("sidelight");
  scope->mutable_scope()->set_version(SIDELIGHT_VERSION);
  scope->set_schema_url(kSchemaUrl);
  auto* rec = scope->add_log_records();
  rec->set_time_unix_nano(static_cast<std::uint64_t>(now_unix_ns));
  rec->set_observed_time_unix_nano(static_cast<std::uint64_t>(now_unix_ns));
  bool severe = exit.signal() != 0 || exit.oom_kill;
  rec->set_severity_number(severe ? logs::SEVERITY_NUMBER_ERROR : logs::SEVERITY_NUMBER_WARN);
  rec->set_severity_text(severe ? "ERROR" : "WARN");
  rec->set_event_name(kExitEventName);
  rec->mutable_body()->set_string_value(service + " exited: " + exit.describe());
  auto& attrs = *rec->mutable_attributes();
  set_attribute(attrs, "service.down.reason", exit.down_reason());
  if (auto code = exit.exit_code()) {
    set_attribute(attrs, "process.exit.code", static_cast<std::int64_t>(*code));
  }
  if (int sig = exit.signal()) {
    set_attribute(attrs, "process.exit.signal", watch::signal_name(sig));
    set_attribute(attrs, "process.exit.signal.number", static_cast<std::int64_t>(sig));
    set_attribute(attrs, "process.exit.core_dumped", exit.core_dumped());
  }
  if (exit.known) set_attribute(attrs, "process.exit.oom_kill", exit.oom_kill);
  return rl;
}

}  // namespace sidelight::heartbeat
