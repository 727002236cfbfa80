// Client telemetry through the queues while the upstream fails: within the bounds nothing is
// lost, beyond them the drops are exact and the oldest go first, and the books always balance.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "support/harness.hpp"
#include "support/intake_client.hpp"
#include "support/otlp_receiver.hpp"
#include "support/slow_proxy.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;

namespace {

std::string pipeline_yaml(const temp_dir& dir, const otlp_receiver& up, const std::string& extra) {
  return "heartbeat: { interval: 60s }\n"
         "batch: { timeout: 20ms }\n"
         "queue: { max_bytes: 256KiB }\n"
         "intake:\n  otlp_grpc: { unix: " +
         dir / "otlp.sock" +
         " }\n"
         "exporters:\n  otlp:\n    endpoint: " +
         up.endpoint() +
         "\n    compression: none\n"
         "    retry: { initial_interval: 100ms, max_interval: 200ms" +
         extra + " }\n";
}

}  // namespace

TEST_CASE(
    "pipeline: an upstream outage drops the oldest beyond the queue, exactly, and "
    "delivers the rest when it returns",
    "[pipeline]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, pipeline_yaml(dir, up, ""));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));

  // Upstream up: everything arrives.
  for (int i = 0; i < 10; ++i)
    REQUIRE(
        grpc_export(dir / "otlp.sock", traces_request("before-" + std::to_string(i), 100)).ok());
  REQUIRE(up.wait_spans(1000, bound(5s)));

  // Upstream gone: 200 requests of 100 spans, about 0.8 MB against a 256 KiB queue. Intake
  // still answers every client at once.
  up.stop();
  for (int i = 0; i < 200; ++i)
    REQUIRE(
        grpc_export(dir / "otlp.sock", traces_request("during-" + std::to_string(i), 100)).ok());
  auto lane = lane_of(status_of(dir, a), "otlp", "traces");
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["received"] == 21000);
  CHECK(lane["dropped"]["queue_full"].get<int>() > 0);
  CHECK(lane["upstream"] == "failing");
  // Issue 4's bound: the queue's max_bytes + 16 MiB, the agent itself included.
  CHECK(rss_below(a.pid(), 256 + 16 * 1024));

  up.start();
  lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  auto dropped = lane["dropped"]["queue_full"].get<std::size_t>();
  CHECK(lane["exported"].get<std::size_t>() == 21000 - dropped);
  // Exactly what was not dropped arrived, the newest included.
  REQUIRE(up.wait_spans(21000 - dropped, bound(5s)));
  auto spans = up.spans();
  CHECK(spans.size() == 21000 - dropped);
  std::set<std::string> names;
  for (const auto& s : spans)
    names.insert(s.name);
  CHECK(names.count("during-199") == 1);
  CHECK(names.count("during-100") == 0);  // the oldest queued went first
  CHECK(lane["upstream"] == "up");
}

TEST_CASE("pipeline: an upstream refusing for good gets no retries, and every item is counted",
          "[pipeline]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, pipeline_yaml(dir, up, ""));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  up.fail_with(grpc::StatusCode::INVALID_ARGUMENT);
  for (int i = 0; i < 5; ++i)
    REQUIRE(grpc_export(dir / "otlp.sock", traces_request("refused", 10)).ok());
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["dropped"]["rejected_by_upstream"] == 50);
  CHECK(lane["retries"] == 0);
  CHECK(up.refused_spans() == 50);
}

TEST_CASE("pipeline: an upstream slow to accept its connection is waited for, not retried",
          "[pipeline]") {
  // Each connection is held 1.5 s before the upstream hears of it: a handshake across a long
  // path. gRPC's default connect timeout (20 s) covers it; exports wait for the connection
  // instead of failing and being retried while it is made.
  temp_dir dir;
  otlp_receiver up;
  slow_proxy slow(up.port(), 1500ms);
  auto yaml = pipeline_yaml(dir, up, "");
  auto at = yaml.find(up.endpoint());
  REQUIRE(at != std::string::npos);
  yaml.replace(at, up.endpoint().size(), slow.endpoint());
  agent a(dir, yaml);
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  for (int i = 0; i < 5; ++i)
    REQUIRE(grpc_export(dir / "otlp.sock", traces_request("patient", 10)).ok());
  REQUIRE(up.wait_spans(50, bound(10s)));
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["exported"] == 50);
  CHECK(lane["retries"] == 0);
  CHECK(lane["last_error"] == "");
  CHECK(slow.connections() >= 1);
}

TEST_CASE("pipeline: a batch retried past max_elapsed_time is dropped as retry_exhausted",
          "[pipeline]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, pipeline_yaml(dir, up, ", max_elapsed_time: 500ms"));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  up.fail_with(grpc::StatusCode::UNAVAILABLE);
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("given-up", 10)).ok());
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["dropped"]["retry_exhausted"] == 10);
  CHECK(lane["retries"].get<int>() >= 1);
  // The upstream back: new data flows again.
  up.fail_with(grpc::StatusCode::OK);
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("after", 10)).ok());
  REQUIRE(up.wait_spans(10, bound(5s)));
}

TEST_CASE("pipeline: SIGTERM with the upstream down counts what is left as shutdown drops",
          "[pipeline]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, pipeline_yaml(dir, up, "") + "shutdown_timeout: 1s\n");
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  up.stop();
  for (int i = 0; i < 3; ++i)
    REQUIRE(grpc_export(dir / "otlp.sock", traces_request("stranded", 10)).ok());
  a.signal(SIGTERM);
  CHECK(a.wait(bound(10s)) == 0);
  INFO(a.log());
  CHECK(a.log().find("30 traces item(s) not confirmed delivered within shutdown_timeout") !=
        std::string::npos);
}

TEST_CASE("pipeline: at queue.memory_limit intake refuses explicitly, with a time to retry",
          "[pipeline]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir,
          "heartbeat: { interval: 60s }\n"
          "batch: { timeout: 20ms }\n"
          "queue: { max_bytes: 4MiB, memory_limit: 128KiB }\n"
          "intake:\n  otlp_grpc: { unix: " +
              dir / "otlp.sock" + " }\n  otlp_http: { unix: " + dir / "http.sock" +
              " }\n  ndjson: { unix: " + dir / "ndjson.sock" +
              " }\n"
              "exporters:\n  otlp: { endpoint: " +
              up.endpoint() +
              ", compression: none, retry: { initial_interval: 100ms, max_interval: 200ms } }\n");
  REQUIRE(a.wait_for_log("intake: NDJSON", bound(5s)));
  up.stop();
  grpc::Status st;
  int accepted = 0;
  for (int i = 0; i < 100; ++i) {
    st = grpc_export(dir / "otlp.sock", traces_request("fill", 100));
    if (!st.ok()) break;
    ++accepted;
  }
  INFO("accepted " << accepted << " requests before the refusal");
  REQUIRE(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK_THAT(st.error_message(), Catch::Contains("memory_limit"));
  CHECK(st.error_details().find("google.rpc.RetryInfo") != std::string::npos);

  auto r = http_post(
      dir / "http.sock", "/v1/logs", "application/json",
      R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]})");
  CHECK(r.status == 429);
  ndjson_send(dir / "ndjson.sock", "{\"message\":\"refused\"}\n");
  auto status = wait_status(
      dir, a, [](const auto& s) { return intake_of(s, "ndjson")["rejected"] == 1; }, bound(5s));
  CHECK(intake_of(status, "ndjson")["rejected"] == 1);
  CHECK(intake_of(status, "otlp_grpc")["rejected"].get<int>() >= 1);
  CHECK(intake_of(status, "otlp_http")["rejected"] == 1);

  // The upstream back: the queues drain and intake accepts again.
  up.start();
  REQUIRE(up.wait_spans(static_cast<std::size_t>(accepted) * 100, bound(10s)));
  settled_lane(dir, a);
  CHECK(grpc_export(dir / "otlp.sock", traces_request("after", 10)).ok());
}

TEST_CASE(
    "pipeline: two exporters fan out, each with its own queue: an upstream and a file of "
    "OTLP/JSON lines",
    "[pipeline]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir,
          "heartbeat: { interval: 60s }\n"
          "batch: { timeout: 20ms }\n"
          "intake:\n  otlp_grpc: { unix: " +
              dir / "otlp.sock" +
              " }\n"
              "exporters:\n  otlp: { endpoint: " +
              up.endpoint() +
              ", compression: none }\n"
              "  file/copy: { path: " +
              dir / "copy.jsonl" + " }\n");
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  for (int i = 0; i < 4; ++i)
    REQUIRE(grpc_export(dir / "otlp.sock", traces_request("fan-" + std::to_string(i), 25)).ok());
  REQUIRE(up.wait_spans(100, bound(5s)));
  auto lane = lane_of(
      wait_status(
          dir, a,
          [](const auto& st) { return lane_of(st, "file/copy", "traces")["exported"] == 100; },
          bound(5s)),
      "file/copy", "traces");
  INFO(lane.dump());
  CHECK(lane["exported"] == 100);
  CHECK(books_balance(lane));
  // Every line of the file is one OTLP/JSON request; the spans in it are the 100 sent, hex ids.
  std::size_t spans = 0;
  std::istringstream lines(read_file(dir / "copy.jsonl"));
  std::string line;
  bool saw_heartbeat = false;
  while (std::getline(lines, line)) {
    auto doc = nlohmann::json::parse(line);
    for (const auto& rs : doc.value("resourceSpans", nlohmann::json::array())) {
      for (const auto& ss : rs["scopeSpans"]) {
        for (const auto& sp : ss["spans"]) {
          ++spans;
          CHECK(sp["traceId"] == "01010101010101010101010101010101");
        }
      }
    }
    if (doc.contains("resourceMetrics")) saw_heartbeat = true;
  }
  CHECK(spans == 100);
  CHECK(saw_heartbeat);  // sidelight's own heartbeat goes to every exporter too
}

namespace {

// 200 spans acknowledged while the upstream is down, sidelight stopped by `sig`, started again
// with the upstream back: everything arrives, counted as recovered. Returns the first run's log.
std::string spooled_restart(int sig) {
  temp_dir dir;
  otlp_receiver up;
  auto yaml = pipeline_yaml(dir, up, "") + "shutdown_timeout: 500ms\n";
  yaml.replace(yaml.find("    retry:"), 0, "    spool: { dir: " + dir / "spool" + " }\n");
  up.stop();
  std::string first_log;
  {
    agent a(dir, yaml);
    REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
    for (int i = 0; i < 20; ++i)
      REQUIRE(grpc_export(dir / "otlp.sock", traces_request("kept-" + std::to_string(i), 10)).ok());
    a.signal(sig);
    auto status = a.wait(bound(10s));
    CHECK((sig == SIGKILL ? WIFSIGNALED(status) : WIFEXITED(status) && WEXITSTATUS(status) == 0));
    first_log = a.log();
  }
  up.start();
  agent b(dir, yaml);
  REQUIRE(up.wait_spans(200, bound(15s)));
  auto lane = settled_lane(dir, b);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["recovered"] == 200);
  CHECK(lane["exported"] == 200);
  std::set<std::string> names;
  for (const auto& span : up.spans())
    names.insert(span.name);
  CHECK(names.size() == 20);
  CHECK(b.wait_for_log("200 traces item(s) recovered from the spool", bound(5s)));
  return first_log;
}

}  // namespace

TEST_CASE("pipeline: with a spool, SIGKILL loses nothing acknowledged: the next start sends it all",
          "[pipeline][spool]") {
  spooled_restart(SIGKILL);
}

TEST_CASE(
    "pipeline: with a spool, SIGTERM with the upstream down keeps what is left for the next "
    "start",
    "[pipeline][spool]") {
  auto log = spooled_restart(SIGTERM);
  INFO(log);
  CHECK(log.find("200 traces item(s) stay in the spool") != std::string::npos);
}

TEST_CASE(
    "pipeline: with a spool, an outage longer than memory holds loses nothing within the "
    "spool's budget, and memory stays small",
    "[pipeline][spool]") {
  temp_dir dir;
  otlp_receiver up;
  auto yaml = pipeline_yaml(dir, up, "");  // queue.max_bytes 256 KiB: the spool replaces it
  yaml.replace(yaml.find("    retry:"), 0,
               "    spool: { dir: " + dir / "spool" + ", max_bytes: 64MiB }\n");
  agent a(dir, yaml);
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  up.stop();
  // 20,000 spans, about 0.8 MB: three times what the 256 KiB queue.max_bytes would keep.
  for (int i = 0; i < 200; ++i)
    REQUIRE(
        grpc_export(dir / "otlp.sock", traces_request("during-" + std::to_string(i), 100)).ok());
  auto lane = lane_of(status_of(dir, a), "otlp", "traces");
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["dropped"]["queue_full"] == 0);
  CHECK(lane["queued_items"].get<int>() + lane["in_flight"].get<int>() == 20000);
  CHECK(rss_below(a.pid(), 48 * 1024));
  up.start();
  REQUIRE(up.wait_spans(20000, bound(20s)));
  lane = settled_lane(dir, a);
  CHECK(books_balance(lane));
  CHECK(lane["exported"] == 20000);
  // Delivered: the spool deletes what it no longer needs.
  std::size_t segments = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "spool"))
    segments += e.path().extension() == ".seg";
  CHECK(segments == 0);  // delivered data does not come back at the next start
}
