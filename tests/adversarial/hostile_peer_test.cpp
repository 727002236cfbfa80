// Hostile peers, written into each test: an upstream or a client that does what no well-behaved
// one would. Each test checks that the agent is still up, that a good client is still served,
// and that memory stays within its bound.
#include <google/protobuf/util/time_util.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "support/harness.hpp"
#include "support/http_upstream.hpp"
#include "support/intake_client.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string grpc_upstream_yaml(const otlp_receiver& up, const std::string& extra = "") {
  return "heartbeat: { interval: 1s }\n"
         "exporters:\n  otlp:\n    endpoint: " +
         up.endpoint() +
         "\n    compression: none\n"
         "    retry: { initial_interval: 100ms, max_interval: 1s }\n" +
         extra;
}

std::string exporter_error(const json& status) {
  for (const auto& e : status["exporters"])
    if (!e["last_error"].get<std::string>().empty()) return e["last_error"];
  return "";
}

// A good OTLP/gRPC client still served: its spans arrive upstream.
void good_client_served(const temp_dir& dir, otlp_receiver& up, const std::string& name) {
  auto before = up.spans().size();
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request(name, 10)).ok());
  CHECK(up.wait_spans(before + 10, bound(10s)));
}

}  // namespace

TEST_CASE("hostile: an upstream error text that is not UTF-8 breaks no status endpoint",
          "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  up.answer_all_with(grpc::Status(grpc::StatusCode::UNAVAILABLE, "\xff\xfe down \xc3\x28 here"));
  agent a(dir, grpc_upstream_yaml(up));
  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  // The first error may be another one (a connection still being made on a slow build): wait
  // for the upstream's own text.
  auto status = wait_status(
      dir, a, [](const json& s) { return exporter_error(s).find(" here") != std::string::npos; },
      bound(10s));
  INFO(status.dump() << "\nagent log:\n" << a.log());
  auto error = exporter_error(status);
  REQUIRE(error.find("down") != std::string::npos);
  CHECK(error.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD where the bad bytes were

  // Every surface renders it, and the agent is still there afterwards.
  auto table = run_cli(dir, {"status", "--admin", a.admin_address()});
  CHECK(table.exit_code == 0);
  auto metrics = http_get(a.admin_address().substr(5), "/metrics");
  CHECK(metrics.status == 200);
  auto page = http_get(a.admin_address().substr(5), "/");
  CHECK(page.status == 200);
  auto ready = http_get(a.admin_address().substr(5), "/readyz");
  CHECK(ready.status == 503);
  CHECK(a.running());

  // The error goes when the upstream answers again.
  up.answer_all_with(std::nullopt);
  status = wait_status(
      dir, a, [](const json& s) { return exporter_error(s).empty() && s["ready"] == true; },
      bound(10s));
  CHECK(exporter_error(status).empty());
}

TEST_CASE("hostile: a RetryInfo of 10^12 s delays a retry no longer than retry.max_interval",
          "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  google::rpc::Status st;
  st.set_code(static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  st.set_message("slow down");
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(1'000'000'000'000);
  st.add_details()->PackFrom(retry);
  up.answer_all_with(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, st.message(), st.SerializeAsString()));
  agent a(dir, grpc_upstream_yaml(up));
  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  auto refused = wait_status(
      dir, a,
      [](const json& s) { return exporter_error(s).find("slow down") != std::string::npos; },
      bound(10s));
  INFO(refused.dump());
  REQUIRE(exporter_error(refused).find("slow down") != std::string::npos);

  // A healthy upstream takes over: heartbeats arrive within max_interval (1 s), not 10^12 s.
  up.answer_all_with(std::nullopt);
  auto since = std::chrono::steady_clock::now();
  auto beat = up.wait_for_after(since, metric_of("sidelight", "service.heartbeat"), bound(5s));
  INFO("agent log:\n" << a.log());
  REQUIRE(beat.has_value());
  auto ready = wait_status(
      dir, a, [](const json& s) { return s["ready"] == true; }, bound(5s));
  CHECK(ready["ready"] == true);
  CHECK(http_get(a.admin_address().substr(5), "/readyz").status == 200);
}

TEST_CASE("hostile: an OTLP/gRPC gzip bomb is refused at max_message_size, never inflated whole",
          "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir,
          grpc_upstream_yaml(up, "intake:\n  otlp_grpc: { unix: " + dir / "otlp.sock" + " }\n"));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  auto rss_before = rss_kib(a.pid());
  // 64 MiB of zeros: 64 KiB once gzipped, far over the 4 MiB max_message_size inflated.
  std::string bomb(64u << 20, '\0');
  auto result = grpc_export(dir / "otlp.sock", bomb,
                            "/opentelemetry.proto.collector.trace.v1.TraceService/Export", true);
  bomb = std::string();
  INFO("answer: " << result.error_code() << " " << result.error_message() << "\nagent log:\n"
                  << a.log());
  CHECK(result.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(a.running());
  CHECK(peak_rss_below(a.pid(), rss_before + 16 * 1024));
  // A well-formed gzipped request still goes through.
  auto before = up.spans().size();
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("zipped", 10),
                      "/opentelemetry.proto.collector.trace.v1.TraceService/Export", true)
              .ok());
  CHECK(up.wait_spans(before + 10, bound(10s)));
  good_client_served(dir, up, "after-bomb");
  auto intake = intake_of(status_of(dir, a), "otlp_grpc");
  CHECK(intake["bad"].get<int>() == 1);
}

TEST_CASE("hostile: OTLP/HTTP chunk extensions and trailers are bounded", "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir,
          grpc_upstream_yaml(up, "intake:\n  otlp_grpc: { unix: " + dir / "otlp.sock" +
                                     " }\n  otlp_http: { unix: " + dir / "http.sock" + " }\n"));
  REQUIRE(a.wait_for_log("intake: OTLP/HTTP", bound(5s)));
  auto rss_before = rss_kib(a.pid());
  const std::string head =
      "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  std::string block(1 << 20, 'a');

  SECTION("an endless chunk extension") {
    int fd = connect_unix(dir / "http.sock");
    REQUIRE(fd >= 0);
    send_all(fd, head + "1;ext=");
    for (int i = 0; i < 256; ++i)
      send_all(fd, block);  // stops at once when the agent closes
    auto answer = read_until(fd, "\r\n\r\n", bound(5s));
    ::close(fd);
    CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
  }
  SECTION("endless trailers") {
    int fd = connect_unix(dir / "http.sock");
    REQUIRE(fd >= 0);
    send_all(fd, head + "0\r\n");
    std::string trailers;
    for (int i = 0; trailers.size() < block.size(); ++i)
      trailers += "X-T" + std::to_string(i) + ": v\r\n";
    for (int i = 0; i < 256; ++i)
      send_all(fd, trailers);
    auto answer = read_until(fd, "\r\n\r\n", bound(5s));
    ::close(fd);
    CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
  }
  INFO("agent log:\n" << a.log());
  CHECK(a.running());
  CHECK(peak_rss_below(a.pid(), rss_before + 16 * 1024));
  CHECK(intake_of(status_of(dir, a), "otlp_http")["bad"].get<int>() == 1);
  good_client_served(dir, up, "after-chunks");
}

TEST_CASE("hostile: OTLP/HTTP answers Expect: 100-continue, and 431 to a header too large",
          "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir,
          grpc_upstream_yaml(up, "intake:\n  otlp_http: { unix: " + dir / "http.sock" + " }\n"));
  REQUIRE(a.wait_for_log("intake: OTLP/HTTP", bound(5s)));
  auto body = traces_request("continued", 5);

  int fd = connect_unix(dir / "http.sock");
  REQUIRE(fd >= 0);
  send_all(fd,
           "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
           "Expect: 100-continue\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n");
  // The body is sent only once the agent asks for it, as curl does.
  auto interim = read_until(fd, "\r\n\r\n", bound(5s));
  CHECK(interim.rfind("HTTP/1.1 100 Continue\r\n", 0) == 0);
  send_all(fd, body);
  auto answer = read_until(fd, "\r\n\r\n", bound(5s));
  ::close(fd);
  CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(up.wait_spans(5, bound(10s)));

  auto big = raw_exchange(
      dir / "http.sock",
      "POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'b') + "\r\n\r\n",
      bound(5s));
  CHECK(big.rfind("HTTP/1.1 431", 0) == 0);
  CHECK(intake_of(status_of(dir, a), "otlp_http")["bad"].get<int>() == 1);
  CHECK(a.running());
}

TEST_CASE("hostile: an upstream answering an endless chunk extension costs the exporter nothing",
          "[hostile]") {
  temp_dir dir;
  http_upstream up;
  agent a(dir,
          "heartbeat: { interval: 60s }\nbatch: { timeout: 20ms }\n"
          "intake:\n  otlp_grpc: { unix: " +
              dir / "otlp.sock" +
              " }\n"
              "exporters:\n  otlp:\n    endpoint: " +
              up.endpoint() +
              "\n    protocol: http/protobuf\n    compression: none\n    timeout: 5s\n"
              "    retry: { initial_interval: 100ms, max_interval: 200ms }\n");
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  auto rss_before = rss_kib(a.pid());
  up.next(1, http_upstream::raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=",
                                "aaaaaaaa", 512u << 20));
  REQUIRE(grpc_export(dir / "otlp.sock", traces_request("through-chunks", 10)).ok());
  // The hostile answer fails the request (retried), and the retry is answered normally.
  REQUIRE(up.wait_spans(10, bound(15s)));
  INFO("agent log:\n" << a.log());
  CHECK(a.running());
  CHECK(peak_rss_below(a.pid(), rss_before + 16 * 1024));
  auto lane = settled_lane(dir, a);
  CHECK(books_balance(lane));
  CHECK(lane["exported"] == 10);
}

TEST_CASE(
    "hostile: an OTLP/JSON body of a million empty objects costs its size, not a message "
    "each",
    "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir,
          grpc_upstream_yaml(up, "intake:\n  otlp_grpc: { unix: " + dir / "otlp.sock" +
                                     " }\n  otlp_http: { unix: " + dir / "http.sock" + " }\n"));
  REQUIRE(a.wait_for_log("intake: OTLP/HTTP", bound(5s)));
  auto rss_before = rss_kib(a.pid());
  // 4 MiB less a little: under max_message_size, 1.4 million ResourceSpans.
  std::string body = R"({"resourceSpans":[{})";
  while (body.size() < (4u << 20) - 64)
    body += ",{}";
  body += "]}";
  auto answer = http_post(dir / "http.sock", "/v1/traces", "application/json", body);
  body = std::string();
  INFO("agent log:\n" << a.log());
  CHECK(answer.status == 200);
  CHECK(a.running());
  // protobuf's JSON parser took this to a 341 MiB peak; the text, its wire form and the
  // parser's index take a few times 4 MiB.
  CHECK(peak_rss_below(a.pid(), rss_before + 48 * 1024));
  good_client_served(dir, up, "after-json");
}
