// queue.when_full: a healthy upstream that is merely slower than the clients slows them down
// (nothing dropped); an upstream that is gone makes the lane drop its oldest, as before.
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <thread>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "support/harness.hpp"
#include "support/intake_client.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;

namespace {

struct retried {
  grpc::Status status;
  int throttled = 0;  // answers of RESOURCE_EXHAUSTED with a RetryInfo, waited out
};

// One export as an OTLP SDK makes it: RESOURCE_EXHAUSTED with a google.rpc.RetryInfo is retried
// after the delay it names, until `deadline`.
retried export_retrying(const std::string& socket, const std::string& request,
                        std::chrono::steady_clock::time_point deadline) {
  retried r;
  for (;;) {
    r.status = grpc_export(socket, request);
    if (r.status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) return r;
    google::rpc::Status st;
    google::rpc::RetryInfo retry;
    bool has_retry = st.ParseFromString(r.status.error_details()) && st.details_size() > 0 &&
                     st.details(0).UnpackTo(&retry);
    if (!has_retry || std::chrono::steady_clock::now() > deadline) return r;
    ++r.throttled;
    // The protocol's own wait, as the server asked: not a guess at when something happens.
    std::this_thread::sleep_for(std::chrono::seconds(retry.retry_delay().seconds()) +
                                std::chrono::nanoseconds(retry.retry_delay().nanos()));
  }
}

std::uint64_t dropped_total(const nlohmann::json& lane) {
  std::uint64_t n = 0;
  for (const auto& [reason, v] : lane["dropped"].items())
    n += v.get<std::uint64_t>();
  return n;
}

// sidelight with one listener and a queue of `queue_bytes`, exporting to `up` uncompressed.
std::string overload_yaml(const otlp_receiver& up, const std::string& queue_bytes,
                          const std::string& listener, const std::string& socket) {
  return "heartbeat: { interval: 60s }\n"
         "batch: { timeout: 20ms, max_bytes: 64KiB }\n"
         "queue: { max_bytes: " +
         queue_bytes + " }\nintake:\n  " + listener + ": { unix: " + socket +
         " }\nexporters:\n  otlp: { endpoint: " + up.endpoint() +
         ", compression: none, timeout: 60s, retry: { initial_interval: 100ms, max_interval: "
         "200ms } }\n";
}

// Until the exporter has had an answer from the upstream (sidelight's own first heartbeat), so
// that a connection still being made (slow in the sanitizer builds) is not taken for an outage.
void await_upstream(const temp_dir& dir, const agent& a) {
  auto st = wait_status(
      dir, a, [](const nlohmann::json& s) { return s["exporters"][0]["requests_ok"] > 0; },
      bound(10s));
  INFO(st.dump());
  REQUIRE(st["exporters"][0]["requests_ok"] > 0);
}

}  // namespace

TEST_CASE(
    "overload: a slow but healthy upstream pushes back with nothing dropped, an outage drops "
    "the oldest",
    "[pipeline][overload]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, overload_yaml(up, "64KiB", "otlp_grpc", dir / "otlp.sock"));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  await_upstream(dir, a);

  // Healthy but slow: 200 requests of 100 spans, about 0.8 MB, against a 64 KiB queue drained
  // four requests at a time, each answered after 250 ms (a second in the sanitizer builds, where
  // the client is slow too). Every client call ends accepted.
  up.answer_after(bound(250ms));
  int throttled = 0;
  auto deadline = std::chrono::steady_clock::now() + bound(60s);
  for (int i = 0; i < 200; ++i) {
    auto r = export_retrying(dir / "otlp.sock", traces_request("slow-" + std::to_string(i), 100),
                             deadline);
    INFO("request " << i << ": " << r.status.error_message());
    REQUIRE(r.status.ok());
    throttled += r.throttled;
  }
  CHECK(throttled > 0);
  REQUIRE(up.wait_spans(20000, bound(30s)));
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(dropped_total(lane) == 0);
  CHECK(lane["exported"] == 20000);
  CHECK(intake_of(status_of(dir, a), "otlp_grpc")["throttled"] == throttled);

  // The upstream gone: once its first request fails the lane stops pushing back and drops the
  // oldest beyond its bound, exactly, and the books balance.
  up.answer_after(0ms);
  up.stop();
  deadline = std::chrono::steady_clock::now() + bound(30s);
  for (int i = 0; i < 100; ++i) {
    auto r = export_retrying(dir / "otlp.sock", traces_request("outage-" + std::to_string(i), 100),
                             deadline);
    REQUIRE(r.status.ok());
  }
  lane = lane_of(status_of(dir, a), "otlp", "traces");
  INFO(lane.dump());
  CHECK(lane["upstream"] == "failing");
  CHECK(lane["pushing_back"] == "no");
  CHECK(lane["dropped"]["queue_full"].get<int>() > 0);
  CHECK(books_balance(lane));

  // Back: everything not dropped arrives, the newest included.
  up.start();
  lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(books_balance(lane));
  auto dropped = lane["dropped"]["queue_full"].get<std::size_t>();
  CHECK(dropped_total(lane) == dropped);
  CHECK(lane["received"] == 30000);
  CHECK(lane["exported"].get<std::size_t>() == 30000 - dropped);
  REQUIRE(up.wait_spans(30000 - dropped, bound(10s)));
  bool newest = false;
  for (const auto& s : up.spans())
    newest = newest || s.name == "outage-99";
  CHECK(newest);
}

TEST_CASE("overload: an NDJSON stream is left unread while a healthy upstream catches up",
          "[pipeline][overload]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, overload_yaml(up, "256KiB", "ndjson", dir / "ndjson.sock"));
  REQUIRE(a.wait_for_log("intake: NDJSON", bound(5s)));
  await_upstream(dir, a);
  up.answer_after(bound(250ms));
  // 20,000 span lines, about 2 MB, written as fast as the socket takes them.
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    char id[17];
    std::snprintf(id, sizeof id, "%016x", i + 1);
    text +=
        std::string(R"({"span":{"name":"line","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)") +
        R"("span_id":")" + id + "\"}}\n";
  }
  int fd = connect_unix(dir / "ndjson.sock");
  REQUIRE(fd >= 0);
  timeval limit{static_cast<time_t>(bound(30s).count() / 1000), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);  // a stuck read fails the send
  send_all(fd, text);
  ::close(fd);
  bool all = up.wait_spans(20000, bound(30s));
  INFO("received upstream: " << up.spans().size() << "\nstatus: " << status_of(dir, a).dump()
                             << "\nagent log:\n"
                             << a.log());
  REQUIRE(all);
  auto lane = settled_lane(dir, a);
  INFO(lane.dump());
  CHECK(dropped_total(lane) == 0);
  CHECK(lane["exported"] == 20000);
  CHECK(intake_of(status_of(dir, a), "ndjson")["throttled"].get<int>() > 0);
}
