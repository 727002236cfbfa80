// Hostile clients that try to make sidelight hold memory: many slow senders part-way through large
// requests or lines, lines refused as too long, and floods of tiny requests. Each test checks the
// agent's RSS against its bound, that it is still up, that a good client is still served, and
// that what was refused is counted.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "support/harness.hpp"
#include "support/intake_client.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr long kMiB = 1024;  // in KiB, as rss_kib() counts

std::string doors_yaml(const temp_dir& dir, const otlp_receiver& up,
                       const std::string& extra = "") {
  return "heartbeat: { interval: 1s }\n"
         "intake:\n"
         "  otlp_grpc: { unix: " +
         dir / "otlp.sock" + " }\n  otlp_http: { unix: " + dir / "http.sock" +
         " }\n  ndjson: { unix: " + dir / "ndjson.sock" +
         ", unix_datagram: " + dir / "ndjson.dgram" +
         " }\n"
         "exporters:\n  otlp:\n    endpoint: " +
         up.endpoint() +
         "\n    compression: none\n"
         "    retry: { initial_interval: 100ms, max_interval: 1s }\n" +
         extra;
}

struct open_fds {
  std::vector<int> fds;
  ~open_fds() {
    for (int fd : fds)
      ::close(fd);
  }
  // `n` clients connect to `socket` one after the other, each writes `data` and stays connected.
  void connect_and_send(const std::string& socket, int n, const std::string& data) {
    for (int i = 0; i < n; ++i) {
      int fd = connect_unix(socket);
      REQUIRE(fd >= 0);
      fds.push_back(fd);
      send_all(fd, data);  // stops early when the agent refuses and closes
    }
  }
};

}  // namespace

TEST_CASE(
    "hostile memory: slow OTLP/HTTP senders hold no more than intake.max_buffered_bytes, and a "
    "good client is served",
    "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, doors_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: OTLP/HTTP", bound(5s)));
  auto rss_before = rss_kib(a.pid());
  // 48 clients each announce a body just under max_message_size (4 MiB), send 3 MiB of it and
  // stop. Held whole, that is 144 MiB; the default budget of 64 MiB lets 16 of them in.
  constexpr int kClients = 48;
  const std::string head =
      "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
      "Content-Length: " +
      std::to_string((4u << 20) - 1024) + "\r\n\r\n";
  const std::string part(3u << 20, '\x0a');
  open_fds held;
  held.connect_and_send(dir / "http.sock", kClients, head + part);
  auto status = wait_status(
      dir, a, [&](const json& s) { return intake_of(s, "otlp_http")["rejected"].get<int>() >= 32; },
      bound(10s));
  INFO(status.dump() << "\nagent log:\n" << a.log());
  CHECK(intake_of(status, "otlp_http")["rejected"].get<int>() >= 32);
  CHECK(a.running());
  // The budget, 64 KiB a connection, and room for the agent's own churn.
  INFO("peak RSS " << (peak_rss_kib(a.pid()) - rss_before) / kMiB << " MiB over the start");
  CHECK(peak_rss_below(a.pid(), rss_before + 64 * kMiB + 3 * kMiB + 16 * kMiB));
  // A good client is served while the slow ones still hold their share.
  auto answer = http_post(dir / "http.sock", "/v1/traces", "application/x-protobuf",
                          traces_request("while-held", 10));
  CHECK(answer.status == 200);
  CHECK(up.wait_spans(10, bound(10s)));
  // Once they go, what they held is given back.
  for (int fd : held.fds)
    ::close(fd);
  held.fds.clear();
  status = wait_status(
      dir, a, [](const json& s) { return s["intake_buffered_bytes"] == 0; }, bound(10s));
  CHECK(status["intake_buffered_bytes"] == 0);
}

TEST_CASE(
    "hostile memory: NDJSON lines refused as too long, or held part-way, cost nothing once done",
    "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, doors_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: NDJSON", bound(5s)));
  auto rss_before = rss_kib(a.pid());
  open_fds held;
  SECTION("lines too long, the connections left open") {
    // Each line of 5 MiB is refused at max_message_size (4 MiB); the connection used to keep a
    // buffer of that size for as long as it stayed open (5 minutes idle).
    held.connect_and_send(dir / "ndjson.sock", 48, std::string(5u << 20, 'x') + "\n");
    auto status = wait_status(
        dir, a, [](const json& s) { return intake_of(s, "ndjson")["bad"].get<int>() >= 48; },
        bound(20s));
    INFO(status.dump() << "\nagent log:\n" << a.log());
    CHECK(intake_of(status, "ndjson")["bad"].get<int>() == 48);
    INFO("RSS " << (rss_kib(a.pid()) - rss_before) / kMiB << " MiB over the start");
    CHECK(rss_below(a.pid(), rss_before + 16 * kMiB));
  }
  SECTION("lines held part-way by slow senders") {
    // 3 MiB of a line each, never finished: 144 MiB held whole; 64 MiB with the budget.
    held.connect_and_send(dir / "ndjson.sock", 48, "{\"body\":\"" + std::string(3u << 20, 'y'));
    auto status = wait_status(
        dir, a, [](const json& s) { return intake_of(s, "ndjson")["rejected"].get<int>() >= 24; },
        bound(20s));
    INFO(status.dump() << "\nagent log:\n" << a.log());
    CHECK(intake_of(status, "ndjson")["rejected"].get<int>() >= 24);
    INFO("peak RSS " << (peak_rss_kib(a.pid()) - rss_before) / kMiB << " MiB over the start");
    CHECK(peak_rss_below(a.pid(), rss_before + 64 * kMiB + 3 * kMiB + 16 * kMiB));
  }
  CHECK(a.running());
  ndjson_send(dir / "ndjson.sock", "{\"body\":\"good\",\"service\":\"good-client\"}\n");
  CHECK(up.wait_logs(1, bound(10s)));
}

TEST_CASE(
    "hostile memory: a flood of tiny NDJSON datagrams holds the queue's max_bytes, bookkeeping "
    "included",
    "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  up.answer_all_with(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  agent a(dir, doors_yaml(dir, up, "queue: { max_bytes: 32MiB }\n"));
  REQUIRE(a.wait_for_log("intake: NDJSON", bound(5s)));
  auto rss_before = rss_kib(a.pid());
  // Each datagram is a request of its own, a chunk of about 60 bytes in the queue, whose entry
  // and allocations cost about three times that again.
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  auto path = dir / "ndjson.dgram";
  std::copy(path.begin(), path.end(), addr.sun_path);
  const int kDatagrams = sanitized() ? 60'000 : 600'000;
  int sent = 0;
  for (int i = 0; i < kDatagrams; ++i) {
    auto line = "{\"service\":\"s" + std::to_string(i) + "\"}";
    auto n =
        ::sendto(fd, line.data(), line.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (n == static_cast<ssize_t>(line.size())) ++sent;
  }
  ::close(fd);
  REQUIRE(sent == kDatagrams);
  auto status = wait_status(
      dir, a, [&](const json& s) { return lane_of(s, "otlp", "logs")["received"] == kDatagrams; },
      bound(60s));
  INFO(status.dump() << "\nagent log:\n" << a.log());
  auto lane = lane_of(status, "otlp", "logs");
  REQUIRE(lane["received"] == kDatagrams);
  CHECK(books_balance(lane));
  CHECK(lane["queued_bytes"].get<long>() <= 32l << 20);
  // 600,000 chunks held whole were about 100 MiB; within the bound, the queue's 32 MiB.
  INFO("peak RSS " << (peak_rss_kib(a.pid()) - rss_before) / kMiB << " MiB over the start");
  CHECK(peak_rss_below(a.pid(), rss_before + 32 * kMiB + 16 * kMiB));
  CHECK(a.running());
}

TEST_CASE("hostile memory: what OTLP/gRPC clients of large requests cost goes back once they leave",
          "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  agent a(dir, doors_yaml(dir, up));
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  auto rss_before = rss_kib(a.pid());
  // 32 clients at once, each with 4 requests of about 2 MiB: gRPC buffers each message in heap
  // memory of its own before intake reads it.
  // (Smaller in the sanitizer builds, where the test's own client is the slow part.)
  const std::size_t kRequest = sanitized() ? (128u << 10) : (2u << 20);
  std::string request;
  for (int i = 0; request.size() < kRequest; ++i)
    request += traces_request("large-" + std::to_string(i), 200);
  // Some are told to retry later (the queue pushes back); each is answered.
  const int kClients = sanitized() ? 4 : 32;
  const int kCalls = sanitized() ? 2 : 4;
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        auto st = grpc_export(dir / "otlp.sock", request);
        if (st.ok() || st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++answered;
      }
    });
  }
  for (auto& t : clients)
    t.join();
  auto peak = peak_rss_kib(a.pid()) - rss_before;
  REQUIRE(answered == kClients * kCalls);
  // Within a few heartbeats of the last client leaving, the agent is back near where it started
  // (73 MiB over it stayed before the heap was trimmed; 15 MiB measured after). The queues have
  // drained to the upstream; what gRPC freed goes back to the kernel.
  auto deadline = std::chrono::steady_clock::now() + bound(30s);
  while (!rss_below(a.pid(), rss_before + 24 * kMiB) &&
         std::chrono::steady_clock::now() < deadline) {
    a.wait_for_log("never logged", 500ms);
  }
  INFO("peak " << peak / kMiB << " MiB over the start, now "
               << (rss_kib(a.pid()) - rss_before) / kMiB << " MiB");
  CHECK(rss_below(a.pid(), rss_before + 24 * kMiB));
  CHECK(a.running());
}

TEST_CASE(
    "hostile memory: many OTLP/gRPC connections sending large requests at once hold no more than "
    "intake.max_buffered_bytes, and a good client is served",
    "[hostile]") {
  temp_dir dir;
  otlp_receiver up;
  auto with_limit = [&](const std::string& limit) {
    auto yaml = doors_yaml(dir, up);
    yaml.replace(yaml.find("intake:\n"), 8, "intake:\n  max_buffered_bytes: " + limit + "\n");
    return yaml;
  };
  std::unique_ptr<agent> agent_ptr;
  SECTION("the limit set at start") {
    agent_ptr = std::make_unique<agent>(dir, with_limit("32MiB"));
  }
  SECTION("the limit lowered by a reload") {
    agent_ptr = std::make_unique<agent>(dir, with_limit("4GiB"));
    REQUIRE(agent_ptr->wait_for_log("intake: OTLP/gRPC", bound(5s)));
    write_file(agent_ptr->config_path(), with_limit("32MiB"));
    agent_ptr->signal(SIGHUP);
    REQUIRE(agent_ptr->wait_for_log("reloaded", bound(10s)));
  }
  auto& a = *agent_ptr;
  REQUIRE(a.wait_for_log("intake: OTLP/gRPC", bound(5s)));
  auto rss_before = rss_kib(a.pid());
  // 128 connections each send a message just under max_message_size (4 MiB) at once: gRPC
  // buffers each whole before intake reads it, 512 MiB together (the agent peaked 299 MiB
  // over its start without a bound). Garbage, so that nothing of it is queued: what is measured
  // is what gRPC holds.
  const int kClients = sanitized() ? 8 : 128;
  const std::string request = garbage((4u << 20) - 1024);
  std::atomic<int> refused{0}, held{0}, other{0};
  std::mutex mutex;
  std::string unexpected;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      auto st = grpc_export(dir / "otlp.sock", request);
      switch (st.error_code()) {
        // Read and refused as malformed, or turned away by gRPC at the bound: a final or a
        // retryable answer.
        case grpc::StatusCode::INVALID_ARGUMENT:
        case grpc::StatusCode::RESOURCE_EXHAUSTED:
        case grpc::StatusCode::UNAVAILABLE:
          ++refused;
          break;
        // Held back until the client's own deadline while the agent went on serving: one call of
        // eight once, under AddressSanitizer in CI; not seen in 550 runs here. What held it is
        // not known; gRPC's transparent retry of a call whose connection was closed at the
        // bound (a new connection after a reconnection backoff) is one candidate.
        case grpc::StatusCode::DEADLINE_EXCEEDED:
          ++held;
          break;
        default: {
          ++other;
          std::lock_guard lock(mutex);
          unexpected = std::to_string(st.error_code()) + " " + st.error_message();
        }
      }
    });
  }
  for (auto& t : clients)
    t.join();
  INFO("unexpected answer: " << unexpected << "\nagent log:\n" << a.log());
  INFO(refused << " refused, " << held << " held until their deadline");
  CHECK(refused + held == kClients);
  CHECK(held < kClients);
  CHECK(other == 0);
  CHECK(a.running());
  // The bound, and room for what gRPC keeps per connection, for what it takes before it feels
  // the bound, and for the agent's own churn: measured 42-92 MiB over the start in ten runs,
  // 299 MiB without the bound.
  INFO("peak RSS " << (peak_rss_kib(a.pid()) - rss_before) / kMiB << " MiB over the start");
  CHECK(peak_rss_below(a.pid(), rss_before + 32 * kMiB + 96 * kMiB));
  // A good client is served once they are done: at once, or after the retries an OTLP client
  // makes while gRPC gets its memory back.
  grpc::Status good;
  for (auto deadline = std::chrono::steady_clock::now() + bound(10s);;) {
    good = grpc_export(dir / "otlp.sock", traces_request("after-flood", 10));
    bool retryable = good.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                     good.error_code() == grpc::StatusCode::UNAVAILABLE;
    if (!retryable || std::chrono::steady_clock::now() > deadline) break;
    a.wait_for_log("never logged", 100ms);
  }
  INFO("the good client's answer: " << good.error_code() << " " << good.error_message());
  CHECK(good.ok());
  CHECK(up.wait_spans(10, bound(10s)));
}
