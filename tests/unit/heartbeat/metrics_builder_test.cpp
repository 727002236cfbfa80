#include "heartbeat/metrics_builder.hpp"

#include <catch2/catch.hpp>
#include <map>

using namespace sidelight;
namespace v1 = opentelemetry::proto::metrics::v1;

namespace {

std::map<std::string, std::string> resource_of(const v1::ResourceMetrics& rm) {
  std::map<std::string, std::string> out;
  for (const auto& kv : rm.resource().attributes()) {
    const auto& v = kv.value();
    out[kv.key()] = v.has_string_value() ? v.string_value() : std::to_string(v.int_value());
  }
  return out;
}

const v1::Metric* find(const v1::ResourceMetrics& rm, const std::string& name) {
  for (const auto& sm : rm.scope_metrics())
    for (const auto& m : sm.metrics())
      if (m.name() == name) return &m;
  return nullptr;
}

struct fixture {
  config::config cfg;
  config::target target;
  watch::instance_report report;
  static constexpr std::int64_t kNow = 1'700'000'100'000'000'000;
  static constexpr std::int64_t kStarted = 1'700'000'000'000'000'000;

  fixture() {
    cfg.resource = {{"deployment.environment.name", std::string("production")},
                    {"service.namespace", std::string("emp")}};
    target.name = "emp-api";
    target.version = "1.4.2";
    report.target = "emp-api";
    report.instance_id = "0b8c7e9e-0000-5000-8000-000000000001";
    report.up = true;
    report.up_since_unix_ns = kStarted;
    report.restarts = 2;
    watch::process_facts p;
    p.pid = 4242;
    p.executable_name = "emp-api";
    p.executable_path = "/usr/bin/emp-api";
    p.start_unix_ns = kStarted;
    report.process = p;
  }
};

}  // namespace

TEST_CASE("each instance is one Resource with the service's identity", "[metrics]") {
  fixture f;
  heartbeat::metrics_builder b(f.cfg, "host-1", fixture::kStarted - 1);
  auto rm = b.build(f.target, f.report, fixture::kNow, std::nullopt);
  auto r = resource_of(rm);
  CHECK(r["service.name"] == "emp-api");
  CHECK(r["service.version"] == "1.4.2");
  CHECK(r["service.namespace"] == "emp");
  CHECK(r["deployment.environment.name"] == "production");
  CHECK(r["service.instance.id"] == f.report.instance_id);
  CHECK(r["host.name"] == "host-1");
  CHECK(r["process.pid"] == "4242");
  CHECK(r["process.executable.name"] == "emp-api");
}

TEST_CASE("heartbeat, uptime and restarts have the documented types, units and values",
          "[metrics]") {
  fixture f;
  heartbeat::metrics_builder b(f.cfg, "host-1", fixture::kStarted - 5);
  auto rm = b.build(f.target, f.report, fixture::kNow, std::nullopt);

  auto* beat = find(rm, "service.heartbeat");
  REQUIRE(beat);
  REQUIRE(beat->has_gauge());
  CHECK(beat->unit() == "1");
  REQUIRE(beat->gauge().data_points_size() == 1);
  const auto& bp = beat->gauge().data_points(0);
  CHECK(bp.as_int() == 1);
  CHECK(bp.time_unix_nano() == std::uint64_t(fixture::kNow));
  REQUIRE(bp.attributes_size() == 1);
  CHECK(bp.attributes(0).key() == "service.status");
  CHECK(bp.attributes(0).value().string_value() == "running");

  auto* uptime = find(rm, "service.uptime_seconds");
  REQUIRE(uptime);
  REQUIRE(uptime->has_gauge());
  CHECK(uptime->unit() == "s");
  CHECK(uptime->gauge().data_points(0).as_double() == Approx(100.0));

  auto* restarts = find(rm, "service.restarts");
  REQUIRE(restarts);
  REQUIRE(restarts->has_sum());
  CHECK(restarts->unit() == "{restart}");
  CHECK(restarts->sum().is_monotonic());
  CHECK(restarts->sum().aggregation_temporality() == v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
  CHECK(restarts->sum().data_points(0).as_int() == 2);
  CHECK(restarts->sum().data_points(0).start_time_unix_nano() ==
        std::uint64_t(fixture::kStarted - 5));

  CHECK_FALSE(find(rm, "service.probe.duration"));
  CHECK_FALSE(find(rm, "process.cpu.time"));
}

TEST_CASE("a down instance reports heartbeat 0, status down and uptime 0", "[metrics]") {
  fixture f;
  f.report.up = false;
  heartbeat::metrics_builder b(f.cfg, "host-1", 0);
  auto rm = b.build(f.target, f.report, fixture::kNow, heartbeat::process_usage{});
  const auto& bp = find(rm, "service.heartbeat")->gauge().data_points(0);
  CHECK(bp.as_int() == 0);
  CHECK(bp.attributes(0).value().string_value() == "down");
  CHECK(find(rm, "service.uptime_seconds")->gauge().data_points(0).as_double() == 0.0);
  CHECK_FALSE(find(rm, "process.cpu.time"));
}

TEST_CASE("process metrics follow the semantic conventions", "[metrics]") {
  fixture f;
  heartbeat::process_usage u;
  u.cpu_user_seconds = 1.5;
  u.cpu_system_seconds = 0.25;
  u.memory_bytes = 4 << 20;
  u.virtual_bytes = 64 << 20;
  u.threads = 3;
  u.open_fds = 12;
  heartbeat::metrics_builder b(f.cfg, "host-1", 0);
  auto rm = b.build(f.target, f.report, fixture::kNow, u);

  auto* cpu = find(rm, "process.cpu.time");
  REQUIRE(cpu);
  REQUIRE(cpu->has_sum());
  CHECK(cpu->unit() == "s");
  CHECK(cpu->sum().is_monotonic());
  std::map<std::string, double> by_mode;
  for (const auto& dp : cpu->sum().data_points()) {
    REQUIRE(dp.attributes_size() == 1);
    CHECK(dp.attributes(0).key() == "cpu.mode");
    by_mode[dp.attributes(0).value().string_value()] = dp.as_double();
  }
  CHECK(by_mode["user"] == 1.5);
  CHECK(by_mode["system"] == 0.25);

  auto* mem = find(rm, "process.memory.usage");
  REQUIRE(mem);
  CHECK(mem->unit() == "By");
  CHECK(mem->sum().data_points(0).as_int() == 4 << 20);
  CHECK_FALSE(mem->sum().is_monotonic());
  CHECK(find(rm, "process.memory.virtual")->sum().data_points(0).as_int() == 64 << 20);
  CHECK(find(rm, "process.thread.count")->sum().data_points(0).as_int() == 3);
  auto* fds = find(rm, "process.unix.file_descriptor.count");
  REQUIRE(fds);
  CHECK(fds->unit() == "{file_descriptor}");
  CHECK(fds->sum().data_points(0).as_int() == 12);
}

TEST_CASE("a connect probe reports service.probe.duration in seconds", "[metrics]") {
  fixture f;
  f.report.probe_seconds = 0.0125;
  heartbeat::metrics_builder b(f.cfg, "host-1", 0);
  auto rm = b.build(f.target, f.report, fixture::kNow, std::nullopt);
  auto* probe = find(rm, "service.probe.duration");
  REQUIRE(probe);
  REQUIRE(probe->has_gauge());
  CHECK(probe->unit() == "s");
  CHECK(probe->gauge().data_points(0).as_double() == Approx(0.0125));
}

TEST_CASE("a target's own resource attributes win over the common ones", "[metrics]") {
  fixture f;
  f.target.resource = {{"service.namespace", std::string("payments")}};
  heartbeat::metrics_builder b(f.cfg, "host-1", 0);
  auto r = resource_of(b.build(f.target, f.report, fixture::kNow, std::nullopt));
  CHECK(r["service.namespace"] == "payments");
}

TEST_CASE("the target as a whole: no instance id, heartbeat with status and down reason",
          "[metrics]") {
  fixture f;
  f.target.min_instances = 2;
  heartbeat::metrics_builder b(f.cfg, "host-1", fixture::kStarted);
  watch::target_report t;
  t.live = 1;
  t.state = watch::target_state::down;
  t.down_reason = "signaled";
  auto rm = b.build_target(f.target, t, fixture::kNow);
  auto r = resource_of(rm);
  CHECK(r["service.name"] == "emp-api");
  CHECK(r["service.namespace"] == "emp");
  CHECK(r["service.version"] == "1.4.2");
  CHECK(r["host.name"] == "host-1");
  CHECK(r.count("service.instance.id") == 0);
  CHECK(r.count("process.pid") == 0);
  const auto& beat = find(rm, "service.heartbeat")->gauge().data_points(0);
  CHECK(beat.as_int() == 0);
  std::map<std::string, std::string> attrs;
  for (const auto& kv : beat.attributes())
    attrs[kv.key()] = kv.value().string_value();
  CHECK(attrs["service.status"] == "down");
  CHECK(attrs["service.down.reason"] == "signaled");
  const auto* instances = find(rm, "service.instances");
  REQUIRE(instances);
  CHECK(instances->unit() == "{instance}");
  CHECK(instances->gauge().data_points(0).as_int() == 1);

  t.live = 2;
  t.state = watch::target_state::running;
  t.down_reason.clear();
  auto up = b.build_target(f.target, t, fixture::kNow);
  const auto& beat_up = find(up, "service.heartbeat")->gauge().data_points(0);
  CHECK(beat_up.as_int() == 1);
  CHECK(beat_up.attributes_size() == 1);  // service.status only
}

TEST_CASE("a degraded target: heartbeat 1 with why, and its probe's duration and failures",
          "[metrics][probe]") {
  fixture f;
  heartbeat::metrics_builder b(f.cfg, "host-1", fixture::kStarted - 1);
  watch::target_report t;
  t.state = watch::target_state::degraded;
  t.live = 1;
  t.degraded_reason = "timeout";
  t.probe_seconds = 1.0005;
  t.probe_failures = 3;
  auto rm = b.build_target(f.target, t, fixture::kNow);
  const auto& beat = find(rm, "service.heartbeat")->gauge().data_points(0);
  CHECK(beat.as_int() == 1);  // alive: degraded is not down
  std::map<std::string, std::string> attrs;
  for (const auto& kv : beat.attributes())
    attrs[kv.key()] = kv.value().string_value();
  CHECK(attrs["service.status"] == "degraded");
  CHECK(attrs["service.degraded.reason"] == "timeout");
  CHECK(attrs.count("service.down.reason") == 0);
  const auto* probe = find(rm, "service.probe.duration");
  REQUIRE(probe);
  CHECK(probe->unit() == "s");
  CHECK(probe->gauge().data_points(0).as_double() == 1.0005);
  const auto* failures = find(rm, "service.probe.failures");
  REQUIRE(failures);
  CHECK(failures->sum().is_monotonic());
  CHECK(failures->sum().data_points(0).as_int() == 3);

  // Without a probe, neither series exists; running again, no reason.
  watch::target_report plain;
  plain.state = watch::target_state::running;
  plain.live = 1;
  auto none = b.build_target(f.target, plain, fixture::kNow);
  CHECK_FALSE(find(none, "service.probe.duration"));
  CHECK_FALSE(find(none, "service.probe.failures"));
  CHECK(find(none, "service.heartbeat")->gauge().data_points(0).attributes_size() == 1);
}
