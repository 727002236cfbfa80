// Hung services: a target whose process is alive but whose probe fails is degraded, not down, on
// OTLP (target-level service.status and service.degraded.reason), on /metrics, in the status JSON
// and table, and running again once it answers. The services are servers written here, switched
// between answering, answering wrongly, and accepting without ever answering.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "support/harness.hpp"
#include "support/heartbeat_checks.hpp"
#include "support/intake_client.hpp"
#include "support/loopback.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// A loopback TCP server: once a connection's request holds `terminator`, it writes the current
// answer and closes, or, with no answer set, holds the connection and never answers (a hung
// service: accepted by the kernel, never served).
class fake_service {
 public:
  explicit fake_service(std::string terminator) : terminator_(std::move(terminator)) {
    auto l = listen_on_loopback(64);
    listen_ = l.fd;
    port_ = l.port;
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_service() {
    stop_ = true;
    thread_.join();
    for (auto& c : conns_)
      ::close(c.fd);
    ::close(listen_);
  }

  int port() const { return port_; }
  void answer(std::string text) {
    std::lock_guard lock(mutex_);
    answer_ = std::move(text);
  }
  void hang() { answer(""); }

 private:
  struct conn {
    int fd;
    std::string in;
    bool done = false;
  };

  void serve() {
    while (!stop_) {
      std::vector<pollfd> fds{{listen_, POLLIN, 0}};
      for (const auto& c : conns_)
        fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) conns_.push_back({fd, {}});
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents) on_readable(conns_[i - 1]);
      }
      std::erase_if(conns_, [](const conn& c) {
        if (c.done) ::close(c.fd);
        return c.done;
      });
    }
  }

  void on_readable(conn& c) {
    char buf[4096];
    auto n = ::read(c.fd, buf, sizeof buf);
    if (n <= 0) {
      c.done = true;  // the prober gave up and closed
      return;
    }
    bool complete = c.in.find(terminator_) != std::string::npos;
    c.in.append(buf, static_cast<std::size_t>(n));
    if (complete || c.in.find(terminator_) == std::string::npos) return;
    std::string answer;
    {
      std::lock_guard lock(mutex_);
      answer = answer_;
    }
    if (answer.empty()) return;  // hung: the request is never answered
    (void)!::write(c.fd, answer.data(), answer.size());
    c.done = true;
  }

  std::string terminator_;
  int listen_ = -1;
  int port_ = 0;
  std::mutex mutex_;
  std::string answer_;
  std::atomic<bool> stop_{false};
  std::vector<conn> conns_;
  std::thread thread_;
};

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
const std::string kUnavailable =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy";

// The target-level heartbeat with this status (and, when degraded, this reason).
point_filter target_status_of(const std::string& svc, const std::string& status,
                              const std::string& degraded_reason = "") {
  auto base = target_metric_of(svc, "service.heartbeat");
  return [=](const point& p) {
    if (!base(p) || p.attributes.at("service.status") != status) return false;
    if (degraded_reason.empty()) return true;
    auto it = p.attributes.find("service.degraded.reason");
    return it != p.attributes.end() && it->second == degraded_reason;
  };
}

// /metrics, once the admin endpoint is up.
std::string metrics_text(const agent& a) {
  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  return http_get(a.admin_address().substr(5), "/metrics").body;
}

// The value of the /metrics line that starts with `series`; NaN when there is none.
double metrics_value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series, 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
  return std::nan("");
}

// A target series' value: `name{target="svc",service="svc"<more labels>}`.
double target_series(const std::string& text, const std::string& name, const std::string& svc,
                     const std::string& more_labels = "") {
  return metrics_value(
      text, name + "{target=\"" + svc + "\",service=\"" + svc + "\"" + more_labels + "}");
}

}  // namespace

TEST_CASE("http probe: a service that hangs is degraded, then running when it answers again",
          "[probe]") {
  temp_dir dir;
  otlp_receiver r;
  fake_service http("\r\n\r\n");
  http.answer(kOk);
  child svc({sleep_binary(dir, "sl-http"), "600"});
  // A long heartbeat interval: every status below arrives because it changed.
  agent a(dir,
          config_for(r, "  - name: svc-http\n    pid: " + std::to_string(svc.pid()) +
                            "\n    http: { url: 'http://127.0.0.1:" + std::to_string(http.port()) +
                            "/healthz', timeout: 300ms, interval: 200ms }\n"));

  auto running = require_point(r, target_status_of("svc-http", "running"), 5000ms,
                               "target-level service.status=running", "svc-http", a);
  CHECK(running.value == 1);
  auto probe = require_point(r, target_metric_of("svc-http", "service.probe.duration"), 5000ms,
                             "target-level service.probe.duration", "svc-http", a);
  CHECK(probe.unit == "s");
  CHECK(probe.value > 0);
  CHECK(probe.value < 5);

  auto hung = clock_type::now();
  http.hang();
  auto degraded =
      require_point(r, target_status_of("svc-http", "degraded", "timeout"), 3000ms,
                    "service.status=degraded (timeout) once the server hangs", "svc-http", a, hung);
  CHECK(degraded.value == 1);  // alive: degraded, never down
  CHECK(degraded.attributes.count("service.down.reason") == 0);
  CHECK(a.wait_for_log("target svc-http: probe failed: timeout", bound(2s)));

  // Every surface says so while it hangs.
  auto metrics = metrics_text(a);
  INFO(metrics);
  CHECK(target_series(metrics, "sidelight_target_status", "svc-http", ",status=\"degraded\"") == 1);
  CHECK(target_series(metrics, "sidelight_target_status", "svc-http", ",status=\"running\"") == 0);
  CHECK(metrics_value(metrics, "sidelight_target_up{target=\"svc-http\"") == 1);
  CHECK(target_series(metrics, "sidelight_target_probe_duration_seconds", "svc-http") >= 0.25);
  CHECK(target_series(metrics, "sidelight_target_probe_failures_total", "svc-http") >= 1);
  auto json = run_cli(dir, {"status", "--admin", a.admin_address(), "--json"});
  auto doc = nlohmann::json::parse(json.output);
  CHECK(doc["targets"][0]["state"] == "degraded");
  CHECK(doc["targets"][0]["degraded_reason"] == "timeout");
  CHECK(doc["targets"][0]["reason"].get<std::string>().find("no answer from http://127.0.0.1:") !=
        std::string::npos);
  auto table = run_cli(dir, {"status", "--admin", a.admin_address()});
  INFO(table.output);
  CHECK(table.output.find("DEGRADED 1/1: timeout") != std::string::npos);

  auto answering = clock_type::now();
  http.answer(kOk);
  require_point(r, target_status_of("svc-http", "running"), 3000ms,
                "service.status=running once the server answers again", "svc-http", a, answering);

  // A wrong status is degraded too, with its own reason.
  auto busy = clock_type::now();
  http.answer(kUnavailable);
  require_point(r, target_status_of("svc-http", "degraded", "wrong_status"), 3000ms,
                "service.status=degraded (wrong_status) on a 503", "svc-http", a, busy);
  auto again = run_cli(dir, {"status", "--admin", a.admin_address(), "--json"});
  CHECK(nlohmann::json::parse(again.output)["targets"][0]["reason"].get<std::string>().find(
            "answered 503, expected 200") != std::string::npos);
}

TEST_CASE("http probe: a down target stays down whatever its probe says", "[probe]") {
  temp_dir dir;
  otlp_receiver r;
  fake_service http("\r\n\r\n");
  http.hang();
  agent a(dir,
          config_for(r,
                     "  - name: svc-gone\n    process: { comm: sl-never-runs }\n"
                     "    http: { url: 'http://127.0.0.1:" +
                         std::to_string(http.port()) + "/', timeout: 200ms, interval: 200ms }\n"));
  auto down = require_point(r, target_heartbeat_of("svc-gone", 0), 5000ms,
                            "target-level heartbeat 0", "svc-gone", a);
  CHECK(down.attributes.at("service.status") == "down");
  // The probe fails meanwhile (and is sent at once, as a change); the target stays down.
  auto failures = target_metric_of("svc-gone", "service.probe.failures");
  auto failed = require_point(
      r, [&](const point& p) { return failures(p) && p.value >= 1; }, 5000ms,
      "service.probe.failures >= 1", "svc-gone", a);
  CHECK(failed.monotonic);
  auto metrics = metrics_text(a);
  CHECK(target_series(metrics, "sidelight_target_status", "svc-gone", ",status=\"down\"") == 1);
}

TEST_CASE("socket send/expect: accepting without answering is degraded, refusing is down",
          "[probe]") {
  temp_dir dir;
  otlp_receiver r;
  fake_service redis("PING\r\n");
  redis.answer("+PONG\r\n");
  agent a(dir, config_for(r, "  - name: svc-kv\n    socket: { tcp: '127.0.0.1:" +
                                 std::to_string(redis.port()) +
                                 "', check: connect, send: \"PING\\r\\n\", expect: \"+PONG\", "
                                 "timeout: 300ms, probe_interval: 200ms }\n"));

  require_point(r, target_status_of("svc-kv", "running"), 5000ms, "service.status=running",
                "svc-kv", a);
  auto hung = clock_type::now();
  redis.hang();
  auto degraded =
      require_point(r, target_status_of("svc-kv", "degraded", "timeout"), 3000ms,
                    "service.status=degraded (timeout) once it stops answering", "svc-kv", a, hung);
  CHECK(degraded.value == 1);
  // The instance is still up: the process is alive.
  CHECK_FALSE(r.wait_for_after(hung, heartbeat_of("svc-kv", 0), 0ms));

  auto back = clock_type::now();
  redis.answer("+PONG\r\n");
  require_point(r, target_status_of("svc-kv", "running"), 3000ms,
                "service.status=running once it answers again", "svc-kv", a, back);

  auto wrong = clock_type::now();
  redis.answer("-ERR unknown command\r\n");
  require_point(r, target_status_of("svc-kv", "degraded", "expect_mismatch"), 3000ms,
                "service.status=degraded (expect_mismatch) on a wrong answer", "svc-kv", a, wrong);
  auto metrics = metrics_text(a);
  INFO(metrics);
  CHECK(target_series(metrics, "sidelight_target_status", "svc-kv", ",status=\"degraded\"") == 1);
  CHECK(target_series(metrics, "sidelight_target_probe_duration_seconds", "svc-kv") >= 0);
}
