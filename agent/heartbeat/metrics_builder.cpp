#include "heartbeat/metrics_builder.hpp"

#include <string_view>
#include <unordered_map>

#include "agent_version.hpp"
#include "codec/utf8.hpp"
#include "watch/k8s.hpp"
#include "watch/proc.hpp"

namespace sidelight::heartbeat {

using otlp::metrics::v1::AggregationTemporality;
using otlp::metrics::v1::NumberDataPoint;
using otlp::metrics::v1::ScopeMetrics;

namespace {

void set_value(otlp::common::v1::AnyValue* v, const config::attribute_value& value) {
  std::visit(
      [v](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          // Names read from /proc are the process's to choose; OTLP strings must be UTF-8, or
          // the upstream refuses the whole request.
          v->set_string_value(codec::is_valid_utf8(x) ? x : codec::printable_utf8(x));
        } else if constexpr (std::is_same_v<T, bool>) {
          v->set_bool_value(x);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          v->set_int_value(x);
        } else {
          v->set_double_value(x);
        }
      },
      value);
}

// The configured resource with each key once, its last value in its first place (as set_attribute
// leaves it), so that it can be appended without searching for each key.
config::attributes unique_keys(const config::attributes& first, const config::attributes& then) {
  config::attributes out;
  std::unordered_map<std::string_view, std::size_t> index;
  out.reserve(first.size() + then.size());
  for (const auto* list : {&first, &then}) {
    for (const auto& [k, v] : *list) {
      auto [it, fresh] = index.try_emplace(k, out.size());
      if (fresh) {
        out.emplace_back(k, v);
      } else {
        out[it->second].second = v;
      }
    }
  }
  return out;
}

}  // namespace

void set_attribute(google::protobuf::RepeatedPtrField<otlp::common::v1::KeyValue>& attrs,
                   const std::string& key, const config::attribute_value& value) {
  otlp::common::v1::KeyValue* kv = nullptr;
  for (auto& existing : attrs) {
    if (existing.key() == key) kv = &existing;
  }
  if (!kv) {
    kv = attrs.Add();
    kv->set_key(key);
  }
  set_value(kv->mutable_value(), value);
}

ScopeMetrics& add_scope(otlp::metrics::v1::ResourceMetrics& rm) {
  rm.set_schema_url(kSchemaUrl);
  auto* scope = rm.add_scope_metrics();
  scope->mutable_scope()->set_name("sidelight");
  scope->mutable_scope()->set_version(SIDELIGHT_VERSION);
  scope->set_schema_url(kSchemaUrl);
  return *scope;
}

NumberDataPoint& add_gauge(ScopeMetrics& scope, const std::string& name, const std::string& unit,
                           const std::string& description, std::int64_t now_unix_ns) {
  auto* m = scope.add_metrics();
  m->set_name(name);
  m->set_unit(unit);
  m->set_description(description);
  auto* dp = m->mutable_gauge()->add_data_points();
  dp->set_time_unix_nano(static_cast<std::uint64_t>(now_unix_ns));
  return *dp;
}

NumberDataPoint& add_sum(ScopeMetrics& scope, const std::string& name, const std::string& unit,
                         const std::string& description, bool monotonic, std::int64_t start_unix_ns,
                         std::int64_t now_unix_ns) {
  auto* m = scope.add_metrics();
  m->set_name(name);
  m->set_unit(unit);
  m->set_description(description);
  auto* sum = m->mutable_sum();
  sum->set_is_monotonic(monotonic);
  sum->set_aggregation_temporality(AggregationTemporality::AGGREGATION_TEMPORALITY_CUMULATIVE);
  auto* dp = sum->add_data_points();
  dp->set_start_time_unix_nano(static_cast<std::uint64_t>(start_unix_ns));
  dp->set_time_unix_nano(static_cast<std::uint64_t>(now_unix_ns));
  return *dp;
}

void add_process_metrics(ScopeMetrics& scope, const process_usage& usage,
                         std::int64_t process_start_unix_ns, std::int64_t now_unix_ns) {
  // process.cpu.time is one Sum with a data point per cpu.mode.
  auto& user = add_sum(scope, "process.cpu.time", "s", "Total CPU seconds broken down by mode.",
                       true, process_start_unix_ns, now_unix_ns);
  user.set_as_double(usage.cpu_user_seconds);
  set_attribute(*user.mutable_attributes(), "cpu.mode", std::string("user"));
  auto* sum = scope.mutable_metrics(scope.metrics_size() - 1)->mutable_sum();
  auto* system = sum->add_data_points();
  system->set_start_time_unix_nano(static_cast<std::uint64_t>(process_start_unix_ns));
  system->set_time_unix_nano(static_cast<std::uint64_t>(now_unix_ns));
  system->set_as_double(usage.cpu_system_seconds);
  set_attribute(*system->mutable_attributes(), "cpu.mode", std::string("system"));

  add_gauge(scope, "process.uptime", "s", "The time the process has been running.", now_unix_ns)
      .set_as_double(now_unix_ns > process_start_unix_ns
                         ? static_cast<double>(now_unix_ns - process_start_unix_ns) / 1e9
                         : 0.0);
  add_sum(scope, "process.memory.usage", "By", "The amount of physical memory in use.", false,
          process_start_unix_ns, now_unix_ns)
      .set_as_int(usage.memory_bytes);
  add_sum(scope, "process.memory.virtual", "By", "The amount of committed virtual memory.", false,
          process_start_unix_ns, now_unix_ns)
      .set_as_int(usage.virtual_bytes);
  add_sum(scope, "process.thread.count", "{thread}", "Process threads count.", false,
          process_start_unix_ns, now_unix_ns)
      .set_as_int(usage.threads);
  if (usage.open_fds) {
    add_sum(scope, "process.unix.file_descriptor.count", "{file_descriptor}",
            "Number of file descriptors in use by the process.", false, process_start_unix_ns,
            now_unix_ns)
        .set_as_int(*usage.open_fds);
  }
}

std::optional<process_usage> read_process_usage(const watch::process_identity& process) {
  auto st = watch::read_stat(process.pid);
  if (!st || st->start_ticks != process.start_ticks || st->zombie()) return std::nullopt;
  auto ticks = static_cast<double>(watch::clock_ticks_per_second());
  process_usage u;
  u.cpu_user_seconds = static_cast<double>(st->utime_ticks) / ticks;
  u.cpu_system_seconds = static_cast<double>(st->stime_ticks) / ticks;
  u.memory_bytes = static_cast<std::int64_t>(st->rss_pages * watch::page_size());
  u.virtual_bytes = static_cast<std::int64_t>(st->vsize_bytes);
  u.threads = st->threads;
  u.open_fds = watch::count_open_fds(process.pid);
  return u;
}

metrics_builder::metrics_builder(const config::config& cfg, std::string host_name,
                                 std::int64_t agent_start_unix_ns)
    : common_(unique_keys(watch::pod_attributes(), cfg.resource)),
      host_name_(std::move(host_name)),
      agent_start_(agent_start_unix_ns) {}

void metrics_builder::add_common_resource(otlp::resource::v1::Resource& resource) const {
  auto& attrs = *resource.mutable_attributes();
  // Into an empty resource the keys, unique already, are appended without a search each: one
  // search per key made a resource of 40,000 keys take 23 s to build. The pod's identity is
  // among them, first, so that `resource:` (and OTEL_RESOURCE_ATTRIBUTES) can override it.
  bool fresh = attrs.empty();
  if (fresh) attrs.Reserve(static_cast<int>(common_.size()) + 1);
  for (const auto& [k, v] : common_) {
    if (!fresh) {
      set_attribute(attrs, k, v);
      continue;
    }
    auto* kv = attrs.Add();
    kv->set_key(k);
    set_value(kv->mutable_value(), v);
  }
  set_attribute(attrs, "host.name", host_name_);
}

otlp::resource::v1::Resource metrics_builder::target_resource_of(
    const config::target& target) const {
  otlp::resource::v1::Resource resource;
  add_common_resource(resource);
  auto& attrs = *resource.mutable_attributes();
  for (const auto& [k, v] : target.resource)
    set_attribute(attrs, k, v);
  set_attribute(attrs, "service.name", target.name);
  if (!target.version.empty()) set_attribute(attrs, "service.version", target.version);
  return resource;
}

otlp::resource::v1::Resource metrics_builder::resource_of(
    const config::target& target, const watch::instance_report& instance) const {
  auto resource = target_resource_of(target);
  auto& attrs = *resource.mutable_attributes();
  set_attribute(attrs, "service.instance.id", instance.instance_id);
  if (instance.process) {
    set_attribute(attrs, "process.pid", static_cast<std::int64_t>(instance.process->pid));
    set_attribute(attrs, "process.executable.name", instance.process->executable_name);
    if (!instance.process->executable_path.empty()) {
      set_attribute(attrs, "process.executable.path", instance.process->executable_path);
    }
    if (!instance.process->container_id.empty()) {
      set_attribute(attrs, "container.id", instance.process->container_id);
    }
  }
  if (!target.container_name.empty()) {
    set_attribute(attrs, "k8s.container.name", target.container_name);
  }
  return resource;
}

otlp::metrics::v1::ResourceMetrics metrics_builder::build_target(const config::target& target,
                                                                 const watch::target_report& report,
                                                                 std::int64_t now_unix_ns) const {
  otlp::metrics::v1::ResourceMetrics rm;
  *rm.mutable_resource() = target_resource_of(target);
  auto& scope = add_scope(rm);
  bool up = report.live >= target.min_instances;
  auto& beat = add_gauge(scope, "service.heartbeat", "1",
                         "1 while the service is alive, 0 when it is down.", now_unix_ns);
  beat.set_as_int(up ? 1 : 0);
  set_attribute(*beat.mutable_attributes(), "service.status",
                std::string(watch::to_string(report.state)));
  if (!up) {
    set_attribute(*beat.mutable_attributes(), "service.down.reason",
                  report.down_reason.empty() ? std::string("unknown") : report.down_reason);
  } else if (report.state == watch::target_state::degraded) {
    set_attribute(*beat.mutable_attributes(), "service.degraded.reason", report.degraded_reason);
  }
  add_gauge(scope, "service.instances", "{instance}", "Live instances of the service now.",
            now_unix_ns)
      .set_as_int(static_cast<std::int64_t>(report.live));
  if (report.probe_seconds) {
    add_gauge(scope, "service.probe.duration", "s",
              "How long the last probe (http:, or socket check: connect) took.", now_unix_ns)
        .set_as_double(*report.probe_seconds);
  }
  if (report.probe_failures) {
    add_sum(scope, "service.probe.failures", "{failure}",
            "Probes that failed since sidelight started.", true, agent_start_, now_unix_ns)
        .set_as_int(static_cast<std::int64_t>(*report.probe_failures));
  }
  return rm;
}

otlp::metrics::v1::ResourceMetrics metrics_builder::build(
    const config::target& target, const watch::instance_report& instance, std::int64_t now_unix_ns,
    const std::optional<process_usage>& usage) const {
  otlp::metrics::v1::ResourceMetrics rm;
  *rm.mutable_resource() = resource_of(target, instance);

  auto& scope = add_scope(rm);
  auto& beat = add_gauge(scope, "service.heartbeat", "1",
                         "1 while the service is alive, 0 when it is down.", now_unix_ns);
  beat.set_as_int(instance.up ? 1 : 0);
  set_attribute(*beat.mutable_attributes(), "service.status",
                std::string(instance.up ? "running" : "down"));
  if (!instance.up && !instance.down_reason.empty()) {
    set_attribute(*beat.mutable_attributes(), "service.down.reason", instance.down_reason);
  }

  double uptime = 0;
  if (instance.up && instance.up_since_unix_ns > 0 && now_unix_ns > instance.up_since_unix_ns) {
    uptime = static_cast<double>(now_unix_ns - instance.up_since_unix_ns) / 1e9;
  }
  add_gauge(scope, "service.uptime_seconds", "s", "Seconds since the service's process started.",
            now_unix_ns)
      .set_as_double(uptime);

  add_sum(scope, "service.restarts", "{restart}", "Restarts seen since sidelight started.", true,
          agent_start_, now_unix_ns)
      .set_as_int(static_cast<std::int64_t>(instance.restarts));

  if (instance.probe_seconds) {
    add_gauge(scope, "service.probe.duration", "s", "How long the connect probe took.", now_unix_ns)
        .set_as_double(*instance.probe_seconds);
  }
  if (usage && instance.up && instance.process && target.process_metrics) {
    add_process_metrics(scope, *usage, instance.process->start_unix_ns, now_unix_ns);
  }
  return rm;
}

}  // namespace sidelight::heartbeat
