// Builds the OTLP ResourceMetrics of one target instance: its Resource (service.name,
// service.instance.id, process.pid, …) and the heartbeat, uptime, restart, probe and process
// metrics listed in the README's "What it sends". Pure: everything it needs is passed in, so it is
// tested without processes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "opentelemetry/proto/metrics/v1/metrics.pb.h"
#include "watch/watch.hpp"

namespace sidelight::heartbeat {

namespace otlp = opentelemetry::proto;

// The OpenTelemetry semantic conventions the names sidelight sends follow, set as schema_url on
// every Resource and scope (process.unix.file_descriptor.count is from this version's names).
inline constexpr const char* kSchemaUrl = "https://opentelemetry.io/schemas/1.37.0";

// What the kernel says a process uses, read at a heartbeat.
struct process_usage {
  double cpu_user_seconds = 0;
  double cpu_system_seconds = 0;
  std::int64_t memory_bytes = 0;  // resident set
  std::int64_t virtual_bytes = 0;
  std::int64_t threads = 0;
  std::optional<std::int64_t> open_fds;  // needs permission to list /proc/PID/fd
};

std::optional<process_usage> read_process_usage(const watch::process_identity& process);

class metrics_builder {
 public:
  // `agent_start_unix_ns` starts the cumulative restart counters.
  metrics_builder(const config::config& cfg, std::string host_name,
                  std::int64_t agent_start_unix_ns);

  otlp::metrics::v1::ResourceMetrics build(const config::target& target,
                                           const watch::instance_report& instance,
                                           std::int64_t now_unix_ns,
                                           const std::optional<process_usage>& usage) const;

  // The target as a whole: a Resource without service.instance.id, with service.heartbeat
  // (service.status, service.down.reason when 0, service.degraded.reason when degraded),
  // service.instances, and with a probe service.probe.duration and service.probe.failures.
  otlp::metrics::v1::ResourceMetrics build_target(const config::target& target,
                                                  const watch::target_report& report,
                                                  std::int64_t now_unix_ns) const;

  // The target's Resource: the common resource, the target's `resource:`, service.name and
  // service.version.
  otlp::resource::v1::Resource target_resource_of(const config::target& target) const;

  // One instance's Resource: service.name, version, instance id, process attributes, and the
  // common resource.
  otlp::resource::v1::Resource resource_of(const config::target& target,
                                           const watch::instance_report& instance) const;

  // The resource every target instance carries before its own attributes: the configured
  // `resource:` and host.name.
  void add_common_resource(otlp::resource::v1::Resource& resource) const;

  const std::string& host_name() const { return host_name_; }
  std::int64_t agent_start_unix_ns() const { return agent_start_; }

 private:
  config::attributes common_;
  std::string host_name_;
  std::int64_t agent_start_;
};

// Small helpers shared with self-telemetry.
void set_attribute(google::protobuf::RepeatedPtrField<otlp::common::v1::KeyValue>& attrs,
                   const std::string& key, const config::attribute_value& value);
otlp::metrics::v1::NumberDataPoint& add_gauge(otlp::metrics::v1::ScopeMetrics& scope,
                                              const std::string& name, const std::string& unit,
                                              const std::string& description,
                                              std::int64_t now_unix_ns);
otlp::metrics::v1::NumberDataPoint& add_sum(otlp::metrics::v1::ScopeMetrics& scope,
                                            const std::string& name, const std::string& unit,
                                            const std::string& description, bool monotonic,
                                            std::int64_t start_unix_ns, std::int64_t now_unix_ns);
void add_process_metrics(otlp::metrics::v1::ScopeMetrics& scope, const process_usage& usage,
                         std::int64_t process_start_unix_ns, std::int64_t now_unix_ns);
otlp::metrics::v1::ScopeMetrics& add_scope(otlp::metrics::v1::ResourceMetrics& rm);

}  // namespace sidelight::heartbeat
