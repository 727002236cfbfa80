// Intake against bad input: each case must be answered clearly, cost nothing to a good client
// that comes right after, and leave memory bounded.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "support/harness.hpp"
#include "support/intake_client.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
namespace otlp = opentelemetry::proto;
namespace http = boost::beast::http;

namespace {

std::string intake_yaml(const temp_dir& dir, const otlp_receiver& up) {
  return "heartbeat: { interval: 60s }\n"
         "batch: { timeout: 20ms }\n"
         "intake:\n"
         "  otlp_grpc: { unix: " +
         dir / "otlp.sock" +
         ", max_connections: 64 }\n"
         "  otlp_http: { unix: " +
         dir / "http.sock" +
         ", max_connections: 64 }\n"
         "  ndjson: { unix: " +
         dir / "ndjson.sock" +
         ", max_connections: 64 }\n"
         "exporters:\n  otlp: { endpoint: " +
         up.endpoint() + ", compression: none }\n";
}

// A good client right after the bad input: its spans must arrive.
void good_client_gets_through(const temp_dir& dir, otlp_receiver& up, std::size_t& expected) {
  auto st = grpc_export(dir / "otlp.sock", traces_request("good", 3));
  REQUIRE(st.ok());
  expected += 3;
  INFO("spans received: " << up.spans().size() << ", expected " << expected);
  REQUIRE(up.wait_spans(expected, bound(5s)));
}

constexpr int kSettingsMaxConcurrentStreams = 3;  // the HTTP/2 SETTINGS parameter's id

// The parameters of the first SETTINGS frame the server sends on a new HTTP/2 connection.
std::map<int, std::uint32_t> server_settings(const std::string& socket) {
  int fd = connect_unix(socket);
  REQUIRE(fd >= 0);
  timeval limit{static_cast<time_t>(bound(5s).count() / 1000), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  send_all(fd, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                   std::string("\0\0\0\x04\0\0\0\0\0", 9));  // and an empty SETTINGS frame
  std::string in;
  for (;;) {
    while (in.size() >= 9) {  // frame header: length (3), type, flags, stream (4)
      auto byte = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(in[i]));
      };
      std::size_t length = byte(0) << 16 | byte(1) << 8 | byte(2);
      if (in.size() < 9 + length) break;
      if (byte(3) == 4 && (byte(4) & 1) == 0) {
        std::map<int, std::uint32_t> out;
        for (std::size_t i = 9; i + 6 <= 9 + length; i += 6) {
          out[static_cast<int>(byte(i) << 8 | byte(i + 1))] =
              byte(i + 2) << 24 | byte(i + 3) << 16 | byte(i + 4) << 8 | byte(i + 5);
        }
        ::close(fd);
        return out;
      }
      in.erase(0, 9 + length);
    }
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      ::close(fd);
      FAIL("the server sent no SETTINGS frame on a new connection within the bound");
    }
    in.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

TEST_CASE("intake: bad OTLP/gRPC requests are refused with INVALID_ARGUMENT, good ones go on",
          "[intake]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, intake_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: NDJSON", bound(5s)));
  std::size_t expected = 0;
  good_client_gets_through(dir, up, expected);

  auto good = traces_request("x", 2);
  auto st = grpc_export(dir / "otlp.sock", good.substr(0, good.size() - 3));
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(st.error_message(), Catch::Contains("runs past the end"));

  st = grpc_export(dir / "otlp.sock", std::string("\x08\x01", 2));  // resource_spans as a number
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(st.error_message(), Catch::Contains("wrong wire type"));

  otlp::collector::trace::v1::ExportTraceServiceRequest bad_utf8;
  bad_utf8.ParseFromString(traces_request("ok", 1));
  bad_utf8.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->set_name("caf\xc3");
  st = grpc_export(dir / "otlp.sock", bad_utf8.SerializePartialAsString());
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(st.error_message(), Catch::Contains("invalid UTF-8"));

  st = grpc_export(dir / "otlp.sock", garbage(10 << 20));
  CHECK(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);  // over max_message_size

  st = grpc_export(dir / "otlp.sock", garbage(100 << 10));
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);

  st = grpc_export(dir / "otlp.sock", good, "/some.Other/Method");
  CHECK(st.error_code() == grpc::StatusCode::UNIMPLEMENTED);

  good_client_gets_through(dir, up, expected);
  auto grpc = intake_of(status_of(dir, a), "otlp_grpc");
  CHECK(grpc["bad"] == 4);
  CHECK(grpc["items"] == 6);
  CHECK(a.wait_for_log("otlp_grpc: refused a request from pid", bound(2s)));
  CHECK(rss_below(a.pid(), 100 * 1024));
}

TEST_CASE("intake: OTLP/HTTP answers bad input with 400, 413 and 415 and keeps serving",
          "[intake]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, intake_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: NDJSON", bound(5s)));
  std::size_t expected = 0;

  auto r = http_post(dir / "http.sock", "/v1/traces", "application/x-protobuf", garbage(10 << 20));
  CHECK(r.status == 413);
  r = http_post(dir / "http.sock", "/v1/traces", "application/x-protobuf", garbage(1000));
  CHECK(r.status == 400);
  r = http_post(dir / "http.sock", "/v1/traces", "text/plain", "hello");
  CHECK(r.status == 415);
  std::string deep = R"({"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":)";
  for (int i = 0; i < 500; ++i)
    deep += R"({"kvlistValue":{"values":[{"key":"k","value":)";
  r = http_post(dir / "http.sock", "/v1/traces", "application/json", deep);
  CHECK(r.status == 400);
  r = http_post(dir / "http.sock", "/v1/traces", "application/json",
                "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"caf\xc3\"}]}]}]}");
  CHECK(r.status == 400);
  r = http_post(dir / "http.sock", "/v1/logs", "application/json",
                R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hi"},)"
                R"("traceId":"5b8efff798038103d269b633813fc60c"}]}]}]})");
  CHECK(r.status == 200);
  CHECK(r.body == "{}");
  REQUIRE(up.wait_logs(1, bound(5s)));
  CHECK(up.logs()[0].name == "hi");
  CHECK(up.logs()[0].trace_id ==
        std::string("\x5b\x8e\xff\xf7\x98\x03\x81\x03\xd2\x69\xb6\x33\x81\x3f\xc6\x0c", 16));

  good_client_gets_through(dir, up, expected);
  auto h = intake_of(status_of(dir, a), "otlp_http");
  CHECK(h["bad"] == 5);
  CHECK(rss_below(a.pid(), 100 * 1024));
}

TEST_CASE("intake: bad NDJSON lines are counted, reported, and the connection goes on",
          "[intake]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, intake_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: NDJSON", bound(5s)));

  std::string deep = R"({"a":)";
  for (int i = 0; i < 10000; ++i)
    deep += "[";
  ndjson_send(dir / "ndjson.sock",
              "not json\n"
              "{\"message\":\"caf\xc3\"}\n" +
                  deep +
                  "\n"
                  "{\"message\":\"still here\"}\n");
  REQUIRE(up.wait_logs(1, bound(5s)));
  CHECK(up.logs()[0].name == "still here");

  CHECK(a.wait_for_log("bad line(s) from pid", bound(2s)));
  CHECK(intake_of(status_of(dir, a), "ndjson")["bad"] == 3);

  // A half-written line, then the client goes: one more bad line.
  ndjson_send(dir / "ndjson.sock", "{\"message\":\"half");
  auto status = wait_status(
      dir, a, [](const auto& st) { return intake_of(st, "ndjson")["bad"] == 4; }, bound(5s));
  CHECK(intake_of(status, "ndjson")["bad"] == 4);

  // 10 MiB of garbage, then a good line on a new connection.
  ndjson_send(dir / "ndjson.sock", garbage(10 << 20));
  ndjson_send(dir / "ndjson.sock", "{\"message\":\"after garbage\"}\n");
  REQUIRE(up.wait_logs(2, bound(5s)));
  CHECK(up.logs()[1].name == "after garbage");

  auto n = intake_of(status_of(dir, a), "ndjson");
  CHECK(n["items"] == 2);
  CHECK(n["bad"].get<int>() > 4);
  CHECK(rss_below(a.pid(), 100 * 1024));
}

TEST_CASE("intake: 1000 idle connections lock no client out", "[intake]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, intake_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: NDJSON", bound(5s)));
  std::size_t expected = 0;

  std::vector<int> idle;
  for (const auto* name : {"otlp.sock", "http.sock", "ndjson.sock"}) {
    for (int i = 0; i < 1000; ++i) {
      int fd = connect_unix(dir / name);
      REQUIRE(fd >= 0);
      idle.push_back(fd);
    }
  }
  good_client_gets_through(dir, up, expected);
  auto r = http_post(
      dir / "http.sock", "/v1/logs", "application/json",
      R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]})");
  CHECK(r.status == 200);
  ndjson_send(dir / "ndjson.sock", "{\"message\":\"y\"}\n");
  REQUIRE(up.wait_logs(2, bound(5s)));

  auto status = status_of(dir, a);
  for (const auto* p : {"otlp_grpc", "otlp_http", "ndjson"}) {
    INFO(p);
    CHECK(intake_of(status, p)["connections_evicted"].get<int>() >= 900);
  }
  CHECK(rss_below(a.pid(), 100 * 1024));
  for (int fd : idle)
    ::close(fd);
}

TEST_CASE(
    "intake: socket hygiene: directories made, stale sockets replaced, files and live "
    "sockets refused, mode applied",
    "[intake]") {
  temp_dir dir;
  otlp_receiver up;
  auto yaml = [&](const std::string& ndjson, const std::string& http) {
    return "heartbeat: { interval: 60s }\nintake:\n  ndjson: { unix: " + ndjson +
           ", mode: \"0600\" }\n  otlp_http: { unix: " + http +
           " }\nexporters:\n  otlp: { endpoint: " + up.endpoint() + " }\n";
  };

  // A file that is not a socket where a socket should go: refused, exit 2, nothing removed.
  write_file(dir / "not-a-socket", "precious");
  {
    temp_dir other;
    agent a(other, yaml(dir / "not-a-socket", other / "http.sock"));
    auto exit_status = a.wait(bound(10s));
    CHECK((exit_status != -1 && WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 2));
    INFO(a.log());
    CHECK(a.log().find("exists and is not a socket") != std::string::npos);
    CHECK(read_file(dir / "not-a-socket") == "precious");
  }

  // A stale socket (its process gone, the file left behind) is replaced; a missing directory is
  // made; the mode is applied.
  int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", (dir / "stale.sock").c_str());
  REQUIRE(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(stale);
  agent a(dir, yaml(dir / "run/deep/ndjson.sock", dir / "stale.sock"));
  REQUIRE(a.wait_for_log("intake: OTLP/HTTP", bound(5s)));
  struct stat st {};
  REQUIRE(::stat((dir / "run/deep/ndjson.sock").c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  auto r = http_post(
      dir / "stale.sock", "/v1/logs", "application/json",
      R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]})");
  CHECK(r.status == 200);

  // A socket another sidelight serves: refused, exit 2, the running one untouched.
  {
    temp_dir other;
    agent b(other, yaml(dir / "run/deep/ndjson.sock", other / "http.sock"));
    auto exit_status = b.wait(bound(10s));
    CHECK((exit_status != -1 && WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 2));
    INFO(b.log());
    CHECK(b.log().find("in use by another process") != std::string::npos);
  }
  ndjson_send(dir / "run/deep/ndjson.sock", "{\"message\":\"still served\"}\n");
  REQUIRE(up.wait_logs(2, bound(5s)));
}

TEST_CASE("intake: an OTLP/gRPC connection has at most max_concurrent_streams calls open",
          "[intake]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, intake_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: NDJSON", bound(5s)));
  CHECK(server_settings(dir / "otlp.sock")[kSettingsMaxConcurrentStreams] == 4);

  // A client with more calls than that waits for a free stream on its side; none fails.
  grpc::ChannelArguments args;
  auto channel = grpc::CreateCustomChannel("unix:" + dir / "otlp.sock",
                                           grpc::InsecureChannelCredentials(), args);
  grpc::GenericStub stub(channel);
  constexpr int kCalls = 16;
  auto body = traces_request("many-calls", 50);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<grpc::ByteBuffer> responses(kCalls);
  std::vector<std::promise<grpc::Status>> done(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(std::chrono::system_clock::now() + bound(10s));
    grpc::Slice slice(body);
    grpc::ByteBuffer request(&slice, 1);
    stub.UnaryCall(contexts.back().get(),
                   "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                   grpc::StubOptions(), &request, &responses[static_cast<std::size_t>(i)],
                   [&done, i](grpc::Status st) {
                     done[static_cast<std::size_t>(i)].set_value(std::move(st));
                   });
  }
  for (int i = 0; i < kCalls; ++i) {
    auto st = done[static_cast<std::size_t>(i)].get_future().get();
    INFO("call " << i << ": " << st.error_message());
    CHECK(st.ok());
  }
  INFO("spans received: " << up.spans().size() << ", expected " << kCalls * 50);
  REQUIRE(up.wait_spans(kCalls * 50, bound(5s)));
}

TEST_CASE("intake: the OTLP/gRPC server announces the max_concurrent_streams it is given",
          "[intake]") {
  temp_dir dir;
  agent a(dir, "heartbeat: { interval: 60s }\nintake:\n  otlp_grpc: { unix: " + dir / "otlp.sock" +
                   ", max_concurrent_streams: 32 }\nexporters: { console: {} }\n");
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  CHECK(server_settings(dir / "otlp.sock")[kSettingsMaxConcurrentStreams] == 32);
}

TEST_CASE("intake: NDJSON connections are decoded on several threads, each line delivered once",
          "[intake]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir,
          "heartbeat: { interval: 60s }\n"
          "batch: { timeout: 20ms }\n"
          "intake:\n  ndjson: { unix: " +
              dir / "ndjson.sock" +
              ", threads: 3 }\n"
              "exporters:\n  otlp: { endpoint: " +
              up.endpoint() + ", compression: none }\n");
  REQUIRE(a.wait_for_log("intake: NDJSON", bound(5s)));

  // The configured threads exist, named for what they do.
  int named = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(a.pid()) + "/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name == "sl-ndjson") ++named;
  }
  CHECK(named == 3);

  // Six writers at once, a service each: every line arrives once, under its own service.
  constexpr int kWriters = 6;
  const int lines = sanitized() ? 300 : 3000;
  // Connected here (Catch's assertions are for this thread), written from a thread each.
  std::vector<int> fds;
  for (int w = 0; w < kWriters; ++w) {
    fds.push_back(connect_unix(dir / "ndjson.sock"));
    REQUIRE(fds.back() >= 0);
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::string text;
      for (int i = 0; i < lines; ++i) {
        text += R"({"level":"info","service":"writer-)" + std::to_string(w) +
                R"(","message":"line )" + std::to_string(i) + "\"}\n";
      }
      send_all(fds[static_cast<std::size_t>(w)], text);
      ::close(fds[static_cast<std::size_t>(w)]);
    });
  }
  for (auto& t : writers)
    t.join();
  auto total = static_cast<std::size_t>(kWriters * lines);
  INFO("logs received: " << up.logs().size() << ", expected " << total);
  REQUIRE(up.wait_logs(total, bound(20s)));
  std::map<std::string, std::set<std::string>> seen;
  for (const auto& log : up.logs())
    seen[log.resource.at("service.name")].insert(log.name);
  CHECK(up.logs().size() == total);
  CHECK(seen.size() == kWriters);
  for (const auto& [service, messages] : seen) {
    INFO(service);
    CHECK(messages.size() == static_cast<std::size_t>(lines));
  }
  CHECK(intake_of(status_of(dir, a), "ndjson")["items"] == total);
}
