// The real sidelight binary watching real processes and sockets, exporting to an OTLP receiver in
// the test. Intervals are long (60 s) wherever a change must be seen, so only event-driven
// detection can satisfy the bounds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "support/harness.hpp"
#include "support/heartbeat_checks.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// Empty for a target-level point, which names no process.
std::string pid_of(const point& p) {
  auto it = p.resource.find("process.pid");
  return it == p.resource.end() ? "" : it->second;
}

}  // namespace

TEST_CASE("pid target: heartbeat 1, then 0 within a second of the kill", "[heartbeat]") {
  temp_dir dir;
  otlp_receiver r;
  child sleeper({sleep_binary(dir, "sl-pid"), "600"});
  agent a(dir,
          config_for(r, "  - name: svc-pid\n    pid: " + std::to_string(sleeper.pid()) + "\n"));

  auto up =
      require_point(r, heartbeat_of("svc-pid", 1), 5000ms, "service.heartbeat=1", "svc-pid", a);
  CHECK(up.attributes.at("service.status") == "running");
  CHECK(pid_of(up) == std::to_string(sleeper.pid()));
  CHECK(up.resource.at("process.executable.name") == "sl-pid");
  CHECK_FALSE(up.resource.at("service.instance.id").empty());
  CHECK_FALSE(up.resource.at("host.name").empty());

  auto killed = clock_type::now();
  sleeper.kill(SIGKILL);
  auto down = require_point(r, heartbeat_of("svc-pid", 0), 1000ms,
                            "service.heartbeat=0 within 1 s of SIGKILL", "svc-pid", a, killed);
  CHECK(down.attributes.at("service.status") == "down");
  CHECK(down.resource.at("service.instance.id") == up.resource.at("service.instance.id"));
}

TEST_CASE("pidfile target: a restart with a new PID resets uptime and counts one restart",
          "[heartbeat]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-pidfile");
  auto pidfile = dir / "svc.pid";
  auto first = std::make_unique<child>(std::vector<std::string>{bin, "600"});
  write_file(pidfile, std::to_string(first->pid()) + "\n");
  agent a(dir, config_for(r, "  - name: svc-pf\n    pidfile: " + pidfile + "\n"));

  auto up = require_point(r, heartbeat_of("svc-pf", 1), 5000ms, "heartbeat=1", "svc-pf", a);
  CHECK(pid_of(up) == std::to_string(first->pid()));

  // Let the first process age so that a reset uptime is visible.
  std::this_thread::sleep_for(1500ms);
  auto killed = clock_type::now();
  first->kill(SIGKILL);
  first->wait(2s);
  child second({bin, "600"});
  write_file(pidfile, std::to_string(second.pid()) + "\n");

  auto pid2 = std::to_string(second.pid());
  auto restarted = require_point(
      r,
      [&](const point& p) {
        return metric_of("svc-pf", "service.restarts")(p) && pid_of(p) == pid2;
      },
      2000ms, "service.restarts for the new PID " + pid2, "svc-pf", a, killed);
  CHECK(restarted.value == 1);
  CHECK(restarted.type == "sum");
  CHECK(restarted.monotonic);
  auto uptime = require_point(
      r,
      [&](const point& p) {
        return metric_of("svc-pf", "service.uptime_seconds")(p) && pid_of(p) == pid2;
      },
      2000ms, "uptime of the new PID", "svc-pf", a, killed);
  CHECK(uptime.value < 1.4);
  CHECK(uptime.unit == "s");
}

TEST_CASE("process target: every match is an instance, exits and newcomers are seen at once",
          "[heartbeat]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-proc");
  child one({bin, "600"});
  child two({bin, "601"});
  agent a(dir,
          config_for(r, "  - name: svc-proc\n    process: { comm: sl-proc, cmdline: '60[01]' }\n"));

  auto p1 = std::to_string(one.pid()), p2 = std::to_string(two.pid());
  auto up_of = [&](const std::string& pid) {
    return [pid](const point& p) { return heartbeat_of("svc-proc", 1)(p) && pid_of(p) == pid; };
  };
  auto first = require_point(r, up_of(p1), 5000ms, "heartbeat=1 for pid " + p1, "svc-proc", a);
  auto second = require_point(r, up_of(p2), 5000ms, "heartbeat=1 for pid " + p2, "svc-proc", a);
  CHECK(first.resource.at("service.instance.id") != second.resource.at("service.instance.id"));

  auto killed = clock_type::now();
  one.kill(SIGKILL);
  require_point(
      r, [&](const point& p) { return heartbeat_of("svc-proc", 0)(p) && pid_of(p) == p1; }, 1000ms,
      "heartbeat=0 for the killed pid " + p1, "svc-proc", a, killed);

  auto started = clock_type::now();
  child three({bin, "600"});
  require_point(r, up_of(std::to_string(three.pid())), 1000ms,
                "heartbeat=1 for the new process within 1 s", "svc-proc", a, started);

  // A process with the same comm that does not match the cmdline is not an instance.
  child other({bin, "700"});
  auto later = clock_type::now();
  child four({bin, "601"});
  require_point(r, up_of(std::to_string(four.pid())), 1000ms, "heartbeat=1 for the fourth",
                "svc-proc", a, later);
  auto o = std::to_string(other.pid());
  for (const auto& p : r.points())
    if (p.resource.count("process.pid")) CHECK(pid_of(p) != o);
}

TEST_CASE("pid target: a PID reused by an unrelated process is not the service", "[heartbeat]") {
  std::ifstream probe("/proc/sys/kernel/ns_last_pid");
  if (!probe || ::access("/proc/sys/kernel/ns_last_pid", W_OK) != 0) {
    WARN("skipped: /proc/sys/kernel/ns_last_pid is not writable here (needs CAP_SYS_ADMIN)");
    return;
  }
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-reuse");
  child original({bin, "600"});
  pid_t pid = original.pid();
  agent a(dir, config_for(r, "  - name: svc-reuse\n    pid: " + std::to_string(pid) + "\n", "1s"));
  require_point(r, heartbeat_of("svc-reuse", 1), 5000ms, "heartbeat=1", "svc-reuse", a);
  original.kill(SIGKILL);
  original.wait(2s);
  require_point(r, heartbeat_of("svc-reuse", 0), 2000ms, "heartbeat=0", "svc-reuse", a);

  // Start an unrelated process under the same PID.
  std::unique_ptr<child> impostor;
  for (int attempt = 0; attempt < 20 && !impostor; ++attempt) {
    std::ofstream("/proc/sys/kernel/ns_last_pid") << pid - 1 << std::flush;
    auto c = std::make_unique<child>(std::vector<std::string>{bin, "600"});
    if (c->pid() == pid) impostor = std::move(c);
  }
  if (!impostor) {
    WARN("skipped: could not get PID " << pid << " reused (another process took it)");
    return;
  }
  // Two ticks later (interval 1s) the target must still be down.
  auto reused = clock_type::now();
  require_point(r, heartbeat_of("svc-reuse", 0), 3000ms, "a tick after reuse", "svc-reuse", a,
                reused + 1100ms);
  for (const auto& p : r.points()) {
    if (p.received >= reused && heartbeat_of("svc-reuse", 1)(p)) {
      FAIL("the impostor with reused PID " << pid << " was reported alive");
    }
  }
}

namespace {

int listen_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  return fd;
}

int listen_tcp(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  REQUIRE(::listen(fd, 8) == 0);
  return fd;
}

}  // namespace

TEST_CASE("socket target (unix, listen): down when the listener closes, up when it returns",
          "[heartbeat][socket]") {
  temp_dir dir;
  otlp_receiver r;
  auto path = dir / "svc.sock";
  int fd = listen_unix(path);
  agent a(dir, config_for(r, "  - name: svc-unix\n    socket: { unix: " + path + " }\n"));
  auto up = require_point(r, heartbeat_of("svc-unix", 1), 5000ms, "heartbeat=1", "svc-unix", a);
  CHECK(pid_of(up) == std::to_string(::getpid()));

  auto closed = clock_type::now();
  ::close(fd);
  ::unlink(path.c_str());
  require_point(r, heartbeat_of("svc-unix", 0), 1000ms,
                "heartbeat=0 within 1 s of closing the listener", "svc-unix", a, closed);

  auto reopened = clock_type::now();
  fd = listen_unix(path);
  require_point(r, heartbeat_of("svc-unix", 1), 1000ms, "heartbeat=1 after reopening", "svc-unix",
                a, reopened);
  ::close(fd);
}

TEST_CASE("socket target (tcp, listen and connect): probe duration, and down on close",
          "[heartbeat][socket]") {
  temp_dir dir;
  otlp_receiver r;
  std::uint16_t port = 0;
  int fd = listen_tcp(port);
  auto addr = "127.0.0.1:" + std::to_string(port);
  agent a(dir, config_for(r, "  - name: svc-tcp\n    socket: { tcp: '" + addr +
                                 "', check: listen }\n"
                                 "  - name: svc-tcp-connect\n    socket: { tcp: '" +
                                 addr + "', check: connect, probe_interval: 100ms }\n"));
  require_point(r, heartbeat_of("svc-tcp", 1), 5000ms, "heartbeat=1 (listen)", "svc-tcp", a);
  require_point(r, heartbeat_of("svc-tcp-connect", 1), 5000ms, "heartbeat=1 (connect)",
                "svc-tcp-connect", a);
  auto probe = require_point(r, metric_of("svc-tcp-connect", "service.probe.duration"), 5000ms,
                             "service.probe.duration", "svc-tcp-connect", a);
  CHECK(probe.unit == "s");
  CHECK(probe.value >= 0);
  CHECK(probe.value < 1);

  auto closed = clock_type::now();
  ::close(fd);
  require_point(r, heartbeat_of("svc-tcp", 0), 1000ms, "listen check: heartbeat=0 within 1 s",
                "svc-tcp", a, closed);
  require_point(r, heartbeat_of("svc-tcp-connect", 0), 1000ms,
                "connect check: heartbeat=0 within 1 s", "svc-tcp-connect", a, closed);
}

TEST_CASE("systemd_unit target: the unit's cgroup processes", "[heartbeat]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-unit");
  child main_process({bin, "600"});
  // The watcher reads <root>/system.slice/<unit>/cgroup.procs; point it at a scratch tree.
  auto unit_dir = dir.path() / "cgroup" / "system.slice" / "demo.service";
  std::filesystem::create_directories(unit_dir);
  write_file((unit_dir / "cgroup.procs").string(), std::to_string(main_process.pid()) + "\n");
  agent a(dir, config_for(r, "  - name: svc-unit\n    systemd_unit: demo\n"),
          {"SIDELIGHT_CGROUP_ROOT=" + (dir / "cgroup")});
  auto up = require_point(r, heartbeat_of("svc-unit", 1), 5000ms, "heartbeat=1", "svc-unit", a);
  CHECK(pid_of(up) == std::to_string(main_process.pid()));
  auto killed = clock_type::now();
  main_process.kill(SIGKILL);
  main_process.wait(2s);
  write_file((unit_dir / "cgroup.procs").string(), "");
  require_point(r, heartbeat_of("svc-unit", 0), 1000ms, "heartbeat=0 within 1 s", "svc-unit", a,
                killed);
}

TEST_CASE("heartbeats survive an upstream outage: the latest state arrives when it returns",
          "[heartbeat][outage]") {
  temp_dir dir;
  otlp_receiver r;
  child sleeper({sleep_binary(dir, "sl-outage"), "600"});
  agent a(dir,
          config_for(r, "  - name: svc-out\n    pid: " + std::to_string(sleeper.pid()) + "\n"));
  require_point(r, heartbeat_of("svc-out", 1), 5000ms, "heartbeat=1", "svc-out", a);

  r.stop();
  sleeper.kill(SIGKILL);
  REQUIRE(a.wait_for_log("retrying", bound(5000ms)));
  auto back = clock_type::now();
  r.start();
  require_point(r, heartbeat_of("svc-out", 0), 5000ms, "the down state, sent once upstream is back",
                "svc-out", a, back);
}

TEST_CASE("sidelight reports itself as service.name=sidelight", "[heartbeat][self]") {
  temp_dir dir;
  otlp_receiver r;
  agent a(dir, config_for(r, "  []\n"));
  auto self = require_point(r, heartbeat_of("sidelight", 1), 5000ms, "sidelight's own heartbeat",
                            "sidelight", a);
  CHECK(pid_of(self) == std::to_string(a.pid()));
  CHECK(self.resource.count("service.version") == 1);
}

TEST_CASE("SIGTERM stops after a final export, exit 0", "[signals]") {
  temp_dir dir;
  otlp_receiver r;
  child sleeper({sleep_binary(dir, "sl-term"), "600"});
  agent a(dir,
          config_for(r, "  - name: svc-term\n    pid: " + std::to_string(sleeper.pid()) + "\n"));
  require_point(r, heartbeat_of("svc-term", 1), 5000ms, "heartbeat=1", "svc-term", a);
  auto term = clock_type::now();
  a.signal(SIGTERM);
  int status = a.wait(bound(6000ms));
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // The final export carries the target's state and sidelight's own stop.
  CHECK(r.wait_for_after(term, heartbeat_of("svc-term", 1), 0ms));
  CHECK(r.wait_for_after(term, heartbeat_of("sidelight", 0), 0ms));
}

TEST_CASE("configured headers reach the upstream, with ${env:...} expanded", "[export]") {
  temp_dir dir;
  otlp_receiver r;
  agent a(dir,
          "exporters:\n  otlp:\n    endpoint: " + r.endpoint() +
              "\n    headers: { x-tenant: t1, authorization: 'Bearer ${env:SIDELIGHT_TEST_TOKEN}' "
              "}\ntargets: []\n",
          {"SIDELIGHT_TEST_TOKEN=s3cret"});
  REQUIRE(r.wait_for(heartbeat_of("sidelight", 1), bound(5000ms)));
  auto md = r.last_metadata();
  auto value = [&](const std::string& key) {
    auto it = md.find(key);
    return it == md.end() ? std::string("<missing>") : it->second;
  };
  CHECK(value("x-tenant") == "t1");
  CHECK(value("authorization") == "Bearer s3cret");
}
