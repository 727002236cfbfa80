#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin/admin_server.hpp"
#include "admin/render.hpp"

using namespace sidelight::admin;

namespace {

status_snapshot sample() {
  status_snapshot s;
  s.version = "0.1.0";
  s.pid = 77;
  s.started_unix_ns = 1'700'000'000'500'000'000;
  s.now_unix_ns = 1'700'000'100'000'000'000;
  s.config_path = "/etc/sidelight/sidelight.yaml";
  s.reloads_applied = 2;
  s.reloads_refused = 1;
  instance_status up;
  up.target = "emp-api";
  up.kind = "pidfile";
  up.instance_id = "0b8c7e9e-0000-5000-8000-000000000001";
  up.up = true;
  up.pid = 4242;
  up.uptime_seconds = 3725;
  up.restarts = 1;
  up.last_change = "restart";
  up.last_change_unix_ns = s.now_unix_ns - 60'000'000'000;
  instance_status down;
  down.target = "odd \"name\"\\x";
  down.kind = "socket";
  down.instance_id = "abc";
  down.reason = "nothing listens on 127.0.0.1:6379";
  s.instances = {up, down};
  exporter_status e;
  e.name = "otlp";
  e.endpoint = "collector:4317";
  e.points_exported = 120;
  e.retries = 3;
  s.exporters = {e};
  return s;
}

snapshot_fn fixed(status_snapshot s) {
  return [s] { return s; };
}

}  // namespace

TEST_CASE("admin routes: health, readiness, metrics, status, page", "[admin]") {
  auto s = sample();
  CHECK(route("GET", "/healthz", fixed(s)).body == "ok\n");
  auto ready = route("GET", "/readyz", fixed(s));
  CHECK(ready.status == 200);
  s.exporters[0].upstream_ok = false;
  s.exporters[0].last_error = "gRPC 14: connection refused";
  auto not_ready = route("GET", "/readyz", fixed(s));
  CHECK(not_ready.status == 503);
  CHECK(not_ready.body.find("exporter otlp: upstream failing: gRPC 14: connection refused") !=
        std::string::npos);
  auto metrics = route("GET", "/metrics?x=1", fixed(s));
  CHECK(metrics.status == 200);
  CHECK(metrics.content_type == "text/plain; version=0.0.4; charset=utf-8");
  auto status = route("GET", "/api/v1/status", fixed(s));
  CHECK(status.content_type == "application/json");
  CHECK(nlohmann::json::parse(status.body)["ready"] == false);
  auto page = route("GET", "/", fixed(s));
  CHECK(page.content_type == "text/html; charset=utf-8");
  // The page is static and draws itself from /api/v1/status; it loads nothing from elsewhere.
  CHECK(page.body.find("fetch(\"api/v1/status\"") != std::string::npos);
  CHECK(page.body.find("http://") == std::string::npos);
  CHECK(page.body.find("https://") == std::string::npos);
  CHECK(page.body.find(" src=") == std::string::npos);
}

TEST_CASE("admin routes: wrong method 405 with Allow, unknown path 404", "[admin]") {
  auto r = route("POST", "/metrics", fixed(sample()));
  CHECK(r.status == 405);
  CHECK(r.allow == "GET");
  CHECK(route("GET", "/admin", fixed(sample())).status == 404);
  CHECK(route("DELETE", "/nope", fixed(sample())).status == 404);
}

TEST_CASE("Prometheus text: families, escaped labels, exact values", "[admin]") {
  auto text = to_prometheus(sample());
  CHECK(text.find("# TYPE sidelight_target_up gauge\n") != std::string::npos);
  CHECK(text.find("sidelight_target_up{target=\"emp-api\",instance_id=\"0b8c7e9e-0000-5000-8000-"
                  "000000000001\",pid=\"4242\"} 1\n") != std::string::npos);
  CHECK(text.find("sidelight_target_up{target=\"odd \\\"name\\\"\\\\x\",instance_id=\"abc\",pid="
                  "\"\"} 0\n") != std::string::npos);
  CHECK(text.find("sidelight_target_restarts_total{target=\"emp-api\",instance_id=\"0b8c7e9e-0000-"
                  "5000-8000-000000000001\"} 1\n") != std::string::npos);
  CHECK(text.find("sidelight_start_time_seconds 1700000000.5\n") != std::string::npos);
  CHECK(text.find("sidelight_targets{state=\"down\"} 1\n") != std::string::npos);
  CHECK(text.find("sidelight_export_retries_total{exporter=\"otlp\"} 3\n") != std::string::npos);
  CHECK(text.find("sidelight_config_reloads_total{outcome=\"refused\"} 1\n") != std::string::npos);
}

TEST_CASE("the status JSON reads back into the same snapshot", "[admin]") {
  auto s = sample();
  status_snapshot back;
  REQUIRE(from_json(to_json(s), back).empty());
  REQUIRE(back.instances.size() == 2);
  CHECK(back.instances[0].pid == 4242);
  CHECK_FALSE(back.instances[1].pid);
  CHECK(back.instances[1].reason == s.instances[1].reason);
  CHECK(back.exporters[0].points_exported == 120);
  CHECK(back.reloads_refused == 1);
  CHECK_FALSE(from_json("{\"version\": 1}", back).empty());
  CHECK_FALSE(from_json("not json", back).empty());
}

TEST_CASE("the status table shows targets and exporters", "[admin]") {
  auto t = to_table(sample());
  CHECK(t.find("sidelight 0.1.0, pid 77, up 1m39s") != std::string::npos);
  CHECK(t.find("emp-api") != std::string::npos);
  CHECK(t.find("1h02m") != std::string::npos);
  CHECK(t.find("1m00s ago (restart)") != std::string::npos);
  CHECK(t.find("DOWN: nothing listens on 127.0.0.1:6379") != std::string::npos);
  CHECK(t.find("collector:4317") != std::string::npos);
}

TEST_CASE("human durations", "[admin]") {
  CHECK(human_duration(0) == "0s");
  CHECK(human_duration(59) == "59s");
  CHECK(human_duration(61) == "1m01s");
  CHECK(human_duration(3725) == "1h02m");
  CHECK(human_duration(90000) == "1d01h");
}
