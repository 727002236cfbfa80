// Load that must not take the agent's attention away: slow clients holding the admin endpoint,
// processes churning under a `process:` target, a very large configuration at SIGHUP.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <regex>
#include <set>
#include <thread>

#include "support/harness.hpp"
#include "support/http_probe.hpp"
#include "support/intake_client.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// Slow clients of an admin socket: half connect and send nothing, half send one byte of a request
// a second. A connection the agent closes is opened again 100 ms later, as a slowloris does.
class slow_clients {
 public:
  slow_clients(std::string path, std::size_t n) : path_(std::move(path)), conns_(n) {
    thread_ = std::thread([this] { run(); });
  }
  ~slow_clients() {
    stop_ = true;
    thread_.join();
    for (auto& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
  }
  int closed_by_agent() const { return closed_; }

 private:
  struct conn {
    int fd = -1;
    std::size_t sent = 0;
    clock_type::time_point next{};  // next byte, or next connection attempt
  };

  void run() {
    const std::string head = "GET /healthz HTTP/1.1\r\nHost: slow\r\n\r\n";
    while (!stop_) {
      auto now = clock_type::now();
      std::vector<pollfd> fds;
      for (auto& c : conns_) {
        if (c.fd < 0 && now >= c.next) {
          c.fd = connect_unix(path_);
          c.sent = 0;
          c.next = now + 1s;
        }
        fds.push_back({c.fd, POLLIN, 0});
      }
      ::poll(fds.data(), fds.size(), 50);
      now = clock_type::now();
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        auto& c = conns_[i];
        if (c.fd < 0) continue;
        char buf[512];
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
            ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) {
          ::close(c.fd);
          c.fd = -1;
          c.next = now + 100ms;
          ++closed_;
          continue;
        }
        if (i % 2 == 1 && now >= c.next && c.sent < head.size()) {
          ::send(c.fd, head.data() + c.sent++, 1, MSG_NOSIGNAL);
          c.next = now + 1s;
        }
      }
    }
  }

  std::string path_;
  std::vector<conn> conns_;
  std::atomic<bool> stop_{false};
  std::atomic<int> closed_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("hostile load: /healthz answers every probe while 100 slow clients hold the admin socket",
          "[hostile][admin]") {
  temp_dir dir;
  agent a(dir, "exporters: { console: {} }\n");
  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  slow_clients slow(a.admin_address().substr(5), 100);
  // Let them take every connection there is (64), and more.
  auto until = clock_type::now() + bound(10s);
  while (slow.closed_by_agent() < 100 && clock_type::now() < until)
    std::this_thread::sleep_for(20ms);  // they give no event to await; bounded above
  INFO("connections the agent closed: " << slow.closed_by_agent());
  REQUIRE(slow.closed_by_agent() >= 36);  // over the cap: the oldest make room

  int failed = 0;
  for (int i = 0; i < 100; ++i) {
    if (http_get_status(a.admin_address(), "/healthz", bound(1000ms)) != 200) ++failed;
    std::this_thread::sleep_for(30ms);  // a probe every 30 ms for 3 s, like an impatient kubelet
  }
  CHECK(failed == 0);
  CHECK(a.running());
  auto status = run_cli(dir, {"status", "--admin", a.admin_address()});
  CHECK(status.exit_code == 0);
}

TEST_CASE("hostile load: admin.listen takes port 0 and says which port it got",
          "[hostile][admin]") {
  temp_dir dir;
  agent a(dir, "exporters: { console: {} }\nadmin: { listen: '127.0.0.1:0' }\n");
  REQUIRE(
      a.wait_for_log("admin: /healthz /readyz /metrics /api/v1/status on 127.0.0.1:", bound(5s)));
  std::smatch m;
  auto log = a.log();
  REQUIRE(std::regex_search(log, m, std::regex("on (127\\.0\\.0\\.1:[0-9]+)")));
  CHECK(m[1] != "127.0.0.1:0");
  CHECK(http_get_status(m[1], "/healthz", bound(1000ms)) == 200);
}

TEST_CASE("hostile load: processes churning under a process target are logged in sums",
          "[hostile][churn]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-churn");
  agent a(dir,
          "heartbeat: { interval: 60s, discovery_interval: 100ms }\n"
          "exporters:\n  otlp: { endpoint: " +
              r.endpoint() +
              ", compression: none }\n"
              "targets:\n  - name: svc-churn\n    process: { comm: sl-churn }\n");
  REQUIRE(a.wait_for_log("watching 1 target(s)", bound(5s)));
  {
    std::vector<child> churn;
    // Each lives 0.3 s (longer where everything is slower), three discovery scans.
    auto life = std::to_string(bound(300ms).count() / 1000.0);
    for (int i = 0; i < 150; ++i)
      churn.emplace_back(std::vector<std::string>{bin, life});
    for (auto& c : churn)
      c.wait(bound(5s));
  }
  // Every instance that came up went down, and upstream heard of each. (An instance that came
  // and went between two sends upstream is sent as down only: the newest state wins.)
  auto instances = [&](int value) {
    std::set<std::string> ids;
    for (const auto& p : r.points())
      if (heartbeat_of("svc-churn", value)(p)) ids.insert(p.resource.at("service.instance.id"));
    return ids;
  };
  auto all_down = [&] {
    auto up = instances(1);
    auto down = instances(0);
    return down.size() > 100 && std::includes(down.begin(), down.end(), up.begin(), up.end());
  };
  auto deadline = clock_type::now() + bound(10s);
  while (!all_down() && clock_type::now() < deadline)
    r.wait_for_after(clock_type::now(), heartbeat_of("svc-churn", 0), 200ms);
  auto downs = instances(0).size();
  INFO("instances up " << instances(1).size() << ", down " << downs);
  REQUIRE(all_down());

  // One line at the first exit, one that sums up the rest when the 10 s period is over.
  REQUIRE(a.wait_for_log("more process(es) exited since the last report", bound(15s)));
  auto log = a.log();
  std::size_t lines = 0;
  std::size_t counted = 0;
  std::regex single("target svc-churn: down \\(process [0-9]+ exited[^\\n]*\\)");
  std::regex summed("target svc-churn: ([0-9]+) more process\\(es\\) exited");
  for (std::sregex_iterator it(log.begin(), log.end(), single), end; it != end; ++it) {
    ++lines;
    ++counted;
  }
  for (std::sregex_iterator it(log.begin(), log.end(), summed), end; it != end; ++it) {
    ++lines;
    counted += std::stoul((*it)[1]);
  }
  INFO(log);
  CHECK(lines <= 3);
  CHECK(counted == downs);  // the log's books balance with what went upstream
  CHECK(a.running());
}

TEST_CASE("hostile load: a large configuration is read and checked off the event loop",
          "[hostile][reload]") {
  temp_dir dir;
  otlp_receiver r;
  child steady({sleep_binary(dir, "sl-steady4"), "600"});
  auto base = "heartbeat: { interval: 1s }\nexporters:\n  otlp: { endpoint: " + r.endpoint() +
              ", compression: none }\ntargets:\n  - name: svc-steady\n    pid: " +
              std::to_string(steady.pid()) + "\n";
  agent a(dir, base);
  REQUIRE(r.wait_for(heartbeat_of("svc-steady", 1), bound(5s)));

  // 100,000 resource keys (3 MB, a second or more to read), and a mistake at the end so that it
  // is refused: only the reading and checking is measured, not an apply.
  std::string big = read_file(a.config_path()) + "resource:\n";
  for (int i = 0; i < 100'000; ++i)
    big += "  k" + std::to_string(i) + ": v\n";
  big += "bogus: 1\n";
  write_file(a.config_path(), big);
  auto hup = clock_type::now();
  a.signal(SIGHUP);
  int probes = 0;
  int failed = 0;
  while (a.log().find("reload refused") == std::string::npos &&
         clock_type::now() - hup < bound(60s)) {
    ++probes;
    if (http_get_status(a.admin_address(), "/healthz", bound(300ms)) != 200) ++failed;
  }
  auto took = clock_type::now() - hup;
  INFO("the reload took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms; " << failed << " of " << probes << " probes failed\n"
                          << a.log());
  REQUIRE(a.log().find("reload refused") != std::string::npos);
  CHECK(a.log().find("bogus: unknown key") != std::string::npos);
  CHECK(failed == 0);
  if (took < 3 * bound(300ms)) {
    WARN("the reload took too little time here to tell whether it blocked the loop");
  }
  auto since = clock_type::now();
  CHECK(r.wait_for_after(since, heartbeat_of("svc-steady", 1), bound(3s)));
}
