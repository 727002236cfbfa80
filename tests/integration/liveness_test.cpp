// Every target is on the map whether or not it has an instance: the target-level series
// (service.heartbeat and service.instances under a Resource without service.instance.id), on
// every surface: OTLP, /metrics, /api/v1/status and `sidelight status`. Real processes, killed
// for real; the heartbeat interval is long where a change must be seen at once.
#include <signal.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/awaits.hpp"
#include "support/harness.hpp"
#include "support/intake_client.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

point_filter instances_of(const std::string& svc, double value) {
  auto base = target_metric_of(svc, "service.instances");
  return [base, value](const point& p) { return base(p) && p.value == value; };
}

std::string admin_socket(const agent& a) {
  return a.admin_address().substr(5);  // "unix:PATH"
}

// The /metrics line of `series` (name and labels as printed), or "" when there is none.
std::string metrics_line(const agent& a, const std::string& series) {
  auto res = http_get(admin_socket(a), "/metrics");
  std::istringstream in(res.body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series, 0) == 0) return line;
  return "";
}

}  // namespace

TEST_CASE("process target with no match: down on every surface at once, and every interval",
          "[liveness]") {
  temp_dir dir;
  otlp_receiver r;
  auto started = clock_type::now();
  agent a(dir, config_for(r, "  - name: svc-none\n    process: { comm: sl-never-runs }\n", "1s"));

  auto down = require_point(r, target_heartbeat_of("svc-none", 0), 1000ms,
                            "target-level service.heartbeat=0 within 1 s of the start", "svc-none",
                            a, started);
  CHECK(down.attributes.at("service.status") == "down");
  CHECK(down.attributes.at("service.down.reason") == "unknown");
  CHECK(down.resource.count("service.instance.id") == 0);
  CHECK_FALSE(down.resource.at("host.name").empty());
  require_point(r, instances_of("svc-none", 0), 1000ms, "service.instances=0", "svc-none", a,
                started);

  // It stays on the map: the next two intervals carry it again.
  for (int i = 0; i < 2; ++i) {
    auto last = r.wait_for_after(clock_type::now(), target_heartbeat_of("svc-none", 0), bound(3s));
    INFO("interval " << i << "\n" << r.dump("svc-none") << a.log());
    REQUIRE(last);
  }

  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  CHECK(metrics_line(a, "sidelight_target_up{target=\"svc-none\"").ends_with(" 0"));
  CHECK(metrics_line(a,
                     "sidelight_target_status{target=\"svc-none\",service=\"svc-none\","
                     "status=\"down\"}")
            .ends_with(" 1"));
  CHECK(metrics_line(a, "sidelight_target_instances{target=\"svc-none\"").ends_with(" 0"));

  auto json = run_cli(dir, {"status", "--admin", a.admin_address(), "--json"});
  auto doc = nlohmann::json::parse(json.output);
  REQUIRE(doc["targets"].size() == 1);
  CHECK(doc["targets"][0]["state"] == "down");
  CHECK(doc["targets"][0]["down_reason"] == "unknown");
  auto table = run_cli(dir, {"status", "--admin", a.admin_address()});
  INFO(table.output);
  CHECK(table.output.find("svc-none") != std::string::npos);
  CHECK(table.output.find("DOWN") != std::string::npos);
}

TEST_CASE("process target whose only match is killed: instances 0 and heartbeat 0 within 1 s",
          "[liveness]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-only");
  child only({bin, "600"});
  agent a(dir, config_for(r, "  - name: svc-only\n    process: { comm: sl-only }\n", "1s"));

  auto up = require_point(r, target_heartbeat_of("svc-only", 1), 5000ms, "target-level heartbeat=1",
                          "svc-only", a);
  CHECK(up.attributes.at("service.status") == "running");
  CHECK(up.attributes.count("service.down.reason") == 0);
  require_point(r, instances_of("svc-only", 1), 5000ms, "service.instances=1", "svc-only", a);

  auto killed = clock_type::now();
  only.kill(SIGKILL);
  auto down =
      require_point(r, target_heartbeat_of("svc-only", 0), 1000ms,
                    "target-level heartbeat=0 within 1 s of SIGKILL", "svc-only", a, killed);
  auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(down.received - killed);
  WARN("kill -> target heartbeat 0 at the receiver: " << latency.count() << " ms");
  CHECK(down.attributes.at("service.status") == "down");
  require_point(r, instances_of("svc-only", 0), 1000ms, "service.instances=0 within 1 s",
                "svc-only", a, killed);
  // And it stays down at the following intervals.
  auto later = clock_type::now();
  require_point(r, target_heartbeat_of("svc-only", 0), 3000ms, "heartbeat=0 at the next interval",
                "svc-only", a, later);
  auto after = clock_type::now();
  require_point(r, instances_of("svc-only", 0), 3000ms, "instances=0 at the next interval",
                "svc-only", a, after);
}

TEST_CASE("min_instances: fewer live instances than asked is down", "[liveness]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-two");
  child one({bin, "600"});
  child two({bin, "601"});
  agent a(dir, config_for(r,
                          "  - name: svc-two\n    min_instances: 2\n"
                          "    process: { comm: sl-two }\n"));

  require_point(r, instances_of("svc-two", 2), 5000ms, "service.instances=2", "svc-two", a);
  require_point(r, target_heartbeat_of("svc-two", 1), 5000ms, "target heartbeat=1 with 2 of 2",
                "svc-two", a);
  auto killed = clock_type::now();
  one.kill(SIGKILL);
  auto down = require_point(r, target_heartbeat_of("svc-two", 0), 1000ms,
                            "target heartbeat=0 with 1 of 2", "svc-two", a, killed);
  CHECK(down.attributes.at("service.status") == "down");
  require_point(r, instances_of("svc-two", 1), 1000ms, "service.instances=1", "svc-two", a, killed);
  // The surviving instance is still up at its own level.
  CHECK(r.wait_for_after(killed, heartbeat_of("svc-two", 0), bound(1s)));

  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  CHECK(metrics_line(a, "sidelight_target_min_instances{target=\"svc-two\"").ends_with(" 2"));
  CHECK(metrics_line(a, "sidelight_target_up{target=\"svc-two\"").ends_with(" 0"));
}
