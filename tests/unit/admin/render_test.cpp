#include "admin/render.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin/admin_server.hpp"

using namespace sidelight;
using namespace sidelight::admin;

namespace {

constexpr stats::metric kUp{"test.target.up", "",   stats::kind::gauge,
                            "1 while up.",    "up", stats::prometheus | stats::json};
constexpr stats::metric kItems{"test.items", "{item}", stats::kind::counter,
                               "Items by \"outcome\".", "{outcome}"};
constexpr stats::metric kRequests{"test.requests", "{request}", stats::kind::counter,
                                  "Requests by outcome.", "requests_{outcome}"};
constexpr stats::metric kQueue{"test.queue.size", "By", stats::kind::gauge, "Queued bytes.",
                               "queued_bytes"};
constexpr stats::metric kLatency{"test.latency", "s", stats::kind::histogram, "Latency.",
                                 "latency"};
constexpr stats::metric kHidden{"test.otlp_only", "",  stats::kind::gauge,
                                "Not scraped.",   "x", stats::otlp};
constexpr double kBounds[] = {0.1, 1};
constexpr std::uint64_t kBuckets[] = {3, 1, 1};

// A fixed agent: two targets (one with an awkward name), one pipeline.
class fixed_status final : public status_provider {
 public:
  std::vector<std::string> reasons;

  void visit(stats::sink& out) const override {
    out.fact("version", "0.1.0");
    out.fact("pid", std::int64_t{77});
    out.fact("config", "/etc/sidelight/sidelight.yaml");
    out.fact("started_unix_nano", std::int64_t{1'700'000'000'500'000'000});
    out.fact("now_unix_nano", std::int64_t{1'700'000'100'000'000'000});
    out.open("targets", {{"target", "emp-api"}, {"service", "emp-api"}});
    out.fact("kind", "pidfile");
    out.value(kUp, {}, 1);
    out.open("instances", {{"instance_id", "0b8c7e9e-0000-5000-8000-000000000001"}});
    out.fact("state", "up");
    out.fact("pid", std::int64_t{4242});
    out.fact("restarts", std::int64_t{1});
    out.fact("last_change", "restart");
    out.fact("last_change_unix_nano", std::int64_t{1'700'000'040'000'000'000});
    out.value(kUp, {}, 1);
    out.close();
    out.close();
    out.open("targets", {{"target", "odd \"name\"\\x\xff"}, {"service", "odd"}});
    out.fact("kind", "socket");
    out.fact("state", "down");
    out.fact("down_reason", "signaled");
    out.fact("live_instances", std::int64_t{0});
    out.fact("min_instances", std::int64_t{1});
    out.value(kUp, {}, 0);
    out.close();
    out.open("pipelines", {{"exporter", "otlp"}, {"signal", "traces"}});
    out.fact("upstream", "up");
    out.value(kItems, {{"outcome", "received"}}, 10);
    out.value(kItems, {{"outcome", "exported"}}, 7);
    out.value(kItems, {{"outcome", "dropped"}, {"reason", "queue_full"}}, 3);
    out.value(kRequests, {{"outcome", "ok"}}, 2);
    out.value(kQueue, {}, 0.5);
    out.histogram(kLatency, {}, {kBounds, kBuckets, 1.75});
    out.value(kHidden, {}, 9);
    out.close();
  }
  std::vector<std::string> not_ready() const override { return reasons; }
};

}  // namespace

TEST_CASE("admin routes: health, readiness, metrics, status, page", "[admin]") {
  fixed_status s;
  CHECK(route("GET", "/healthz", s).body == "ok\n");
  CHECK(route("GET", "/readyz", s).status == 200);
  s.reasons = {"exporter otlp: upstream failing: gRPC 14: connection refused"};
  auto not_ready = route("GET", "/readyz", s);
  CHECK(not_ready.status == 503);
  CHECK(not_ready.body.find("exporter otlp: upstream failing: gRPC 14: connection refused") !=
        std::string::npos);
  auto metrics = route("GET", "/metrics?x=1", s);
  CHECK(metrics.status == 200);
  CHECK(metrics.content_type == "text/plain; version=0.0.4; charset=utf-8");
  auto status = route("GET", "/api/v1/status", s);
  CHECK(status.content_type == "application/json");
  CHECK(nlohmann::json::parse(status.body)["ready"] == false);
  auto page = route("GET", "/", s);
  CHECK(page.content_type == "text/html; charset=utf-8");
}

TEST_CASE("admin routes: wrong method 405 with Allow, unknown path 404", "[admin]") {
  fixed_status s;
  auto r = route("POST", "/metrics", s);
  CHECK(r.status == 405);
  CHECK(r.allow == "GET");
  CHECK(route("GET", "/admin", s).status == 404);
  CHECK(route("DELETE", "/nope", s).status == 404);
}

TEST_CASE("Prometheus text: one family per metric, scoped and escaped labels, exact values",
          "[admin]") {
  auto text = to_prometheus(fixed_status{});
  INFO(text);
  CHECK(text.find("# HELP test_target_up 1 while up.\n# TYPE test_target_up gauge\n") !=
        std::string::npos);
  CHECK(text.find("test_target_up{target=\"emp-api\",service=\"emp-api\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("test_target_up{target=\"emp-api\",service=\"emp-api\",instance_id=\"0b8c7e9e-"
                  "0000-5000-8000-000000000001\"} 1\n") != std::string::npos);
  CHECK(text.find("test_target_up{target=\"odd \\\"name\\\"\\\\x\xef\xbf\xbd\",service=\"odd\"} "
                  "0\n") != std::string::npos);
  // The two samples of a family stay together under one TYPE line, whatever came between them.
  CHECK(text.find("# TYPE test_target_up") == text.rfind("# TYPE test_target_up"));
  CHECK(text.find("# HELP test_items_total Items by \"outcome\".\n") != std::string::npos);
  CHECK(text.find("test_items_total{exporter=\"otlp\",signal=\"traces\",outcome=\"dropped\","
                  "reason=\"queue_full\"} 3\n") != std::string::npos);
  CHECK(text.find("test_queue_size_bytes{exporter=\"otlp\",signal=\"traces\"} 0.5\n") !=
        std::string::npos);
  CHECK(
      text.find("test_latency_seconds_bucket{exporter=\"otlp\",signal=\"traces\",le=\"1\"} 4\n") !=
      std::string::npos);
  CHECK(text.find("test_latency_seconds_bucket{exporter=\"otlp\",signal=\"traces\",le=\"+Inf\"} "
                  "5\n") != std::string::npos);
  CHECK(text.find("test_latency_seconds_count{exporter=\"otlp\",signal=\"traces\"} 5\n") !=
        std::string::npos);
  CHECK(text.find("test_otlp_only") == std::string::npos);
}

TEST_CASE("the status JSON nests sections and places values by their keys", "[admin]") {
  auto doc = to_json(fixed_status{});
  INFO(json_text(doc));
  CHECK(doc["version"] == "0.1.0");
  CHECK(doc["ready"] == true);
  REQUIRE(doc["targets"].size() == 2);
  CHECK(doc["targets"][0]["target"] == "emp-api");
  CHECK(doc["targets"][0]["up"] == 1);
  CHECK(doc["targets"][0]["instances"][0]["pid"] == 4242);
  const auto& p = doc["pipelines"][0];
  CHECK(p["received"] == 10);
  CHECK(p["exported"] == 7);
  CHECK(p["dropped"]["queue_full"] == 3);
  CHECK(p["requests_ok"] == 2);
  CHECK(p["queued_bytes"] == 0.5);
  CHECK(p["latency"]["buckets"] == nlohmann::json::array({3, 1, 1}));
  CHECK_FALSE(p.contains("x"));
  // Text that is not UTF-8 is replaced when written out, never thrown on.
  CHECK(json_text(doc).find("odd") != std::string::npos);
}

TEST_CASE("the status table shows targets, instances and pipelines", "[admin]") {
  auto t = to_table(to_json(fixed_status{}));
  INFO(t);
  CHECK(t.find("sidelight 0.1.0, pid 77, up 1m39s") != std::string::npos);
  CHECK(t.find("emp-api") != std::string::npos);
  CHECK(t.find("1m00s ago (restart)") != std::string::npos);
  CHECK(t.find("DOWN: no instance") != std::string::npos);
  CHECK(t.find("STATUS") != std::string::npos);
  CHECK(t.find("DOWN 0/1: signaled") != std::string::npos);
  CHECK(t.find("traces") != std::string::npos);
  // An older or newer agent's document, with fields missing, still reads.
  CHECK(to_table(nlohmann::json::object()).find("no targets") != std::string::npos);
}

TEST_CASE("human durations", "[admin]") {
  CHECK(human_duration(0) == "0s");
  CHECK(human_duration(59) == "59s");
  CHECK(human_duration(61) == "1m01s");
  CHECK(human_duration(3725) == "1h02m");
  CHECK(human_duration(90000) == "1d01h");
}
