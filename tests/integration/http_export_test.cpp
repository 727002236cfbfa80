// The OTLP/HTTP exporter against an upstream told to misbehave: every status, Retry-After, a
// hang, a slow answer, a connection dropped mid-request, partial success. Within the bounds
// nothing is lost and nothing is sent twice; what is refused is counted; the books balance.
#include <catch2/catch.hpp>
#include <set>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "support/harness.hpp"
#include "support/http_upstream.hpp"
#include "support/intake_client.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;

namespace {

std::string http_yaml(const temp_dir& dir, const http_upstream& up) {
  return "heartbeat: { interval: 60s }\n"
         "batch: { timeout: 20ms }\n"
         "intake:\n  otlp_grpc: { unix: " +
         dir / "otlp.sock" +
         " }\n"
         "exporters:\n  otlp:\n    endpoint: " +
         up.endpoint() +
         "/base\n"
         "    protocol: http/protobuf\n"
         "    timeout: 500ms\n"
         "    headers: { x-tenant: t1 }\n"
         "    retry: { initial_interval: 100ms, max_interval: 200ms }\n";
}

std::vector<http_upstream::request_seen> traces_requests(const http_upstream& up) {
  std::vector<http_upstream::request_seen> out;
  for (auto& r : up.requests())
    if (r.target.ends_with("/v1/traces")) out.push_back(r);
  return out;
}

}  // namespace

TEST_CASE(
    "http export: spans and metrics arrive under the base path, gzipped, with the configured "
    "headers, over kept-alive connections",
    "[http-export]") {
  temp_dir dir;
  http_upstream up;
  auto yaml = http_yaml(dir, up);
  // By name: the lookup runs on a thread of its own ("localhost" may give ::1 first, where
  // nothing listens, then 127.0.0.1).
  yaml.replace(yaml.find("127.0.0.1"), 9, "localhost");
  agent a(dir, yaml);
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  for (int i = 0; i < 20; ++i) {
    REQUIRE(grpc_export(dir / "otlp.sock", traces_request("s" + std::to_string(i), 10)).ok());
    REQUIRE(up.wait_spans(10 * (i + 1), bound(5s)));  // one request after the other
  }
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["exported"] == 200);
  CHECK(up.span_names().size() == 200);

  auto traces = traces_requests(up);
  REQUIRE(!traces.empty());
  for (const auto& r : traces) {
    CHECK(r.target == "/base/v1/traces");
    CHECK(r.headers.at("content-type") == "application/x-protobuf");
    CHECK(r.headers.at("content-encoding") == "gzip");
    CHECK(r.headers.at("x-tenant") == "t1");
    CHECK(r.headers.at("user-agent").starts_with("sidelight/"));
  }
  // sidelight's own heartbeat goes to the metrics path.
  auto all = up.requests();
  CHECK(std::any_of(all.begin(), all.end(),
                    [](const auto& r) { return r.target == "/base/v1/metrics"; }));
  // Requests one after the other share a connection.
  INFO(all.size() << " requests on " << up.connections() << " connections");
  CHECK(up.connections() < all.size() / 2);
}

TEST_CASE(
    "http export: 429, 502, 503 and 504 are retried, honouring Retry-After up to "
    "retry.max_interval",
    "[http-export]") {
  temp_dir dir;
  http_upstream up;
  auto yaml = http_yaml(dir, up);
  yaml.replace(yaml.find("max_interval: 200ms"), 19, "max_interval: 2s");
  agent a(dir, yaml);
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  up.next(1, http_upstream::status(503, "1"));
  up.next(1, http_upstream::status(429, "3600"));
  up.next(1, http_upstream::status(502));
  up.next(1, http_upstream::status(504));
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("retried", 10)).ok());
  REQUIRE(up.wait_spans(10, bound(15s)));
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["exported"] == 10);
  CHECK(lane["retries"].get<int>() >= 4);
  CHECK(up.span_names().size() == 10);
  // The retry after the 503 waited for its Retry-After of 1 s, not the 100 ms backoff; the one
  // after the 429 waited for max_interval (2 s), not the hour it asked for.
  auto traces = traces_requests(up);
  REQUIRE(traces.size() == 5);
  CHECK(traces[1].at - traces[0].at >= 900ms);
  CHECK(traces[2].at - traces[1].at >= 1900ms);
  CHECK(traces[2].at - traces[1].at < bound(4s));
}

TEST_CASE("http export: a permanent refusal is not retried, and every item is counted",
          "[http-export]") {
  temp_dir dir;
  http_upstream up;
  agent a(dir, http_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  up.next(1, http_upstream::status(400));
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("refused", 10)).ok());
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["dropped"]["rejected_by_upstream"] == 10);
  CHECK(lane["retries"] == 0);
  CHECK(traces_requests(up).size() == 1);
  CHECK(a.wait_for_log("export failed (permanent): HTTP 400", bound(5s)));
}

TEST_CASE(
    "http export: an upstream that hangs, closes the connection before reading the body or "
    "answers late loses nothing, and requests travel side by side",
    "[http-export]") {
  temp_dir dir;
  http_upstream up;
  auto yaml = http_yaml(dir, up);
  // One request a batch, so that eight of them can be in flight at once.
  yaml.replace(yaml.find("batch: { timeout: 20ms }"), 24,
               "batch: { timeout: 20ms, max_items: 10 }");
  agent a(dir, yaml);
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  up.next(1, http_upstream::hang());
  up.next(1, http_upstream::drop_mid_request());
  up.next(1, http_upstream::slow(200ms));  // within the 500 ms timeout
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("faulted", 10)).ok());
  REQUIRE(up.wait_spans(10, bound(15s)));
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["exported"] == 10);
  // The hang is cut off at the timeout and retried by the lane; the closed connection is retried
  // by the lane, or at once on a new connection when it was a kept-alive one.
  CHECK(lane["retries"].get<int>() >= 1);
  CHECK(up.span_names().size() == 10);
  CHECK(a.wait_for_log("within the timeout of 500 ms", bound(5s)));

  // Then many requests at once, each slow: they travel side by side, and all arrive.
  up.next(8, http_upstream::slow(300ms));
  for (int i = 0; i < 8; ++i)
    REQUIRE(grpc_export(dir / "otlp.sock", traces_request("parallel", 10)).ok());
  REQUIRE(up.wait_spans(90, bound(15s)));
  lane = settled_lane(dir, a);
  CHECK(books_balance(lane));
  CHECK(up.span_names().size() == 90);
  // Each slow answer takes 300 ms: one after the other, no two would arrive closer than that.
  auto traces = traces_requests(up);
  REQUIRE(traces.size() >= 8);
  std::size_t overlapping = 0;
  for (std::size_t i = traces.size() - 8; i + 1 < traces.size(); ++i)
    if (traces[i + 1].at - traces[i].at < 250ms) ++overlapping;
  CHECK(overlapping >= 1);
}

TEST_CASE(
    "http export: a kept-alive connection closed after the upstream took the request is "
    "resent at once on a new one: at least once, never lost",
    "[http-export]") {
  temp_dir dir;
  http_upstream up;
  agent a(dir, http_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("first", 10)).ok());
  REQUIRE(up.wait_spans(10, bound(5s)));  // leaves a kept-alive connection
  up.next(1, http_upstream::close_without_answer());
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("twice", 10)).ok());
  REQUIRE(up.wait_spans(30, bound(10s)));
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["exported"] == 20);
  // The upstream took the 10 spans, then closed without answering: they are sent again. OTLP
  // export is at least once; an upstream that must not see duplicates de-duplicates by span id.
  auto names = up.span_names();
  CHECK(std::count(names.begin(), names.end(), "twice") == 20);
}

TEST_CASE("http export: an interim 103 Early Hints before the answer is skipped", "[http-export]") {
  temp_dir dir;
  http_upstream up;
  agent a(dir, http_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  auto f = http_upstream::status(200);
  f.early_hints = true;
  up.next(1, f);
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("hinted", 10)).ok());
  REQUIRE(up.wait_spans(10, bound(5s)));
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(lane["exported"] == 10);
  CHECK(lane["dropped"]["rejected_by_upstream"] == 0);
  CHECK(lane["requests_failed"] == 0);
}

TEST_CASE("http export: partial success counts the refused items as rejected_by_upstream",
          "[http-export]") {
  temp_dir dir;
  http_upstream up;
  agent a(dir, http_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse partial;
  partial.mutable_partial_success()->set_rejected_spans(4);
  partial.mutable_partial_success()->set_error_message("4 spans too old");
  auto f = http_upstream::status(200);
  f.body = partial.SerializeAsString();
  up.next(1, f);
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("partly", 10)).ok());
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["exported"] == 6);
  CHECK(lane["dropped"]["rejected_by_upstream"] == 4);
  CHECK(lane["retries"] == 0);
}

TEST_CASE("http export: an upstream that is not there is retried until it is", "[http-export]") {
  temp_dir dir;
  std::string endpoint;
  {
    http_upstream gone;  // a port that was free a moment ago
    endpoint = gone.endpoint();
  }
  agent a(dir,
          "heartbeat: { interval: 60s }\nbatch: { timeout: 20ms }\n"
          "intake:\n  otlp_grpc: { unix: " +
              dir / "otlp.sock" +
              " }\n"
              "exporters:\n  otlp:\n    endpoint: " +
              endpoint +
              "\n    protocol: http/protobuf\n"
              "    retry: { initial_interval: 100ms, max_interval: 200ms }\n"
              "shutdown_timeout: 200ms\n");
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("waiting", 10)).ok());
  CHECK(a.wait_for_log("connecting to " + endpoint + ": Connection refused", bound(5s)));
  auto status = wait_status(
      dir, a, [](const auto& s) { return lane_of(s, "otlp", "traces")["retries"] > 1; }, bound(5s));
  auto lane = lane_of(status, "otlp", "traces");
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["upstream"] == "failing");
  CHECK(lane["in_flight"] == 10);
}

TEST_CASE(
    "http export: a request with one resource larger than batch.max_bytes goes upstream in "
    "requests under it, every span once",
    "[http-export]") {
  temp_dir dir;
  http_upstream up;
  auto yaml =
      http_yaml(dir, up) + "    compression: none\nbatch: { timeout: 20ms, max_bytes: 64KiB }\n";
  yaml.replace(yaml.find("batch: { timeout: 20ms }\n"), 25, "");
  yaml.replace(yaml.find("intake:\n"), 8,
               "intake:\n  otlp_http: { unix: " + dir / "http.sock" + " }\n");
  agent a(dir, yaml);
  REQUIRE(a.wait_for_log("intake: OTLP/HTTP", bound(5s)));
  auto request = traces_request("big", 10000);  // one resource, one scope
  REQUIRE(request.size() > 4 * 65536);
  // Over OTLP/HTTP intake: a gRPC client channel that sent a message this large sometimes takes
  // until its deadline to be torn down in the test process (gRPC 1.51), after a prompt answer.
  auto posted = http_post(dir / "http.sock", "/v1/traces", "application/x-protobuf", request);
  REQUIRE(posted.status == 200);
  REQUIRE(up.wait_spans(10000, bound(10s)));
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["exported"] == 10000);
  auto traces = traces_requests(up);
  CHECK(traces.size() >= 5);
  for (const auto& r : traces)
    CHECK(r.body_bytes <= 65536);
  CHECK(up.span_names().size() == 10000);
}

TEST_CASE(
    "http export: with two endpoints, failover moves to the second while the first refuses, and "
    "round_robin uses both",
    "[http-export]") {
  SECTION("failover") {
    temp_dir dir;
    http_upstream first;
    http_upstream second;
    auto yaml = http_yaml(dir, first);
    yaml.replace(yaml.find(first.endpoint() + "/base"), first.endpoint().size() + 5,
                 "[" + first.endpoint() + ", " + second.endpoint() + "]");
    agent a(dir, yaml);
    REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
    first.next(1, http_upstream::status(503));
    REQUIRE(grpc_export(dir / "otlp.sock", traces_request("failed-over", 10)).ok());
    REQUIRE(second.wait_spans(10, bound(10s)));
    auto lane = settled_lane(dir, a);
    INFO(lane.dump());
    CHECK(books_balance(lane));
    CHECK(lane["exported"] == 10);
    CHECK(lane["retries"] == 0);  // the pipeline saw no failure: the other endpoint took it
    CHECK(first.span_names().empty());
    CHECK(a.wait_for_log("endpoint " + first.endpoint() + " failed (HTTP 503)", bound(5s)));
  }
  SECTION("round_robin") {
    temp_dir dir;
    http_upstream first;
    http_upstream second;
    auto yaml = http_yaml(dir, first);
    yaml.replace(
        yaml.find(first.endpoint() + "/base"), first.endpoint().size() + 5,
        "[" + first.endpoint() + ", " + second.endpoint() + "]\n    balancing: round_robin");
    agent a(dir, yaml);
    REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
    for (int i = 0; i < 10; ++i) {
      REQUIRE(grpc_export(dir / "otlp.sock", traces_request("turn", 10)).ok());
      auto total = [&] { return first.span_names().size() + second.span_names().size(); };
      wait_status(
          dir, a, [&](const auto&) { return total() == static_cast<std::size_t>(10 * (i + 1)); },
          bound(5s));
      REQUIRE(total() == static_cast<std::size_t>(10 * (i + 1)));
    }
    INFO(first.span_names().size()
         << " spans to the first, " << second.span_names().size() << " to the second");
    CHECK(first.span_names().size() >= 30);
    CHECK(second.span_names().size() >= 30);
  }
}

TEST_CASE(
    "http export: a kept-alive connection the upstream closes is closed at once, not at the next "
    "request",
    "[http-export]") {
  temp_dir dir;
  http_upstream up;
  agent a(dir, http_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  up.next(1, http_upstream::close_after_answer());
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("s", 10)).ok());
  REQUIRE(up.wait_spans(10, bound(5s)));
  auto requests = up.requests().size();
  // The upstream closed its side after answering. No request follows (the next heartbeat is a
  // minute away), so only the exporter watching its idle connection can close it.
  CHECK(up.wait_closed_by_client(1, bound(5s)));
  CHECK(up.requests().size() == requests);
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  CHECK(lane["exported"] == 10);
}
