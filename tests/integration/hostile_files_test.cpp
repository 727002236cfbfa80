// Files that try to hang or fool the agent: a pidfile (or a cgroup list, or the configuration
// file itself) that is a FIFO, a directory or a device, one that is endless, or one that names
// init, a kernel thread or sidelight itself. Each test checks that the loop goes on (another
// target's heartbeats keep arriving, /healthz answers) and that the bad file is refused with a
// clear, rate-limited log line.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "support/harness.hpp"
#include "support/heartbeat_checks.hpp"
#include "support/http_probe.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// Heartbeats every second: the loop's liveness is seen within one.
std::string fast_config(const otlp_receiver& r, const std::string& targets) {
  return config_for(r, targets, "1s");
}

// The loop is alive: the steady target's next heartbeat (interval 1 s) arrives, /healthz answers.
void loop_goes_on(const otlp_receiver& r, agent& a, const std::string& steady) {
  auto now = clock_type::now();
  require_point(r, heartbeat_of(steady, 1), 3000ms, "the next heartbeat of " + steady, steady, a,
                now + 500ms);
  CHECK(http_get_status(a.admin_address(), "/healthz", bound(1000ms)) == 200);
  CHECK(a.running());
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

void make_fifo(const std::string& path) {
  auto tmp = path + ".fifo";
  REQUIRE(::mkfifo(tmp.c_str(), 0644) == 0);
  std::filesystem::rename(tmp, path);  // replaces the pidfile in one step, as an attacker would
}

}  // namespace

TEST_CASE("hostile files: a pidfile replaced by a FIFO blocks nothing and is refused",
          "[hostile][files]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-fifo");
  auto service = std::make_unique<child>(std::vector<std::string>{bin, "600"});
  child steady({sleep_binary(dir, "sl-steady"), "600"});
  auto pidfile = dir / "svc.pid";
  write_file(pidfile, std::to_string(service->pid()) + "\n");
  agent a(dir, fast_config(r, "  - name: svc-fifo\n    pidfile: " + pidfile +
                                  "\n  - name: svc-steady\n    pid: " +
                                  std::to_string(steady.pid()) + "\n"));
  require_point(r, heartbeat_of("svc-fifo", 1), 5000ms, "svc-fifo up", "svc-fifo", a);
  require_point(r, heartbeat_of("svc-steady", 1), 5000ms, "svc-steady up", "svc-steady", a);

  // The pidfile becomes a FIFO and the service dies: the watcher must look at the FIFO now.
  // Opened for reading, a FIFO without a writer blocks until one comes: the whole agent did.
  make_fifo(pidfile);
  auto killed = clock_type::now();
  service->kill(SIGKILL);
  service->wait(2s);
  require_point(r, heartbeat_of("svc-fifo", 0), 2000ms, "svc-fifo down after the kill", "svc-fifo",
                a, killed);
  loop_goes_on(r, a, "svc-steady");
  auto line = "target svc-fifo: refusing the pidfile: pidfile " + pidfile +
              " is a FIFO (named pipe), not a regular file";
  REQUIRE(a.wait_for_log(line, bound(2s)));

  // Re-checked every 500 ms and at every change in the directory, it is logged once a minute.
  for (int i = 0; i < 3; ++i)
    loop_goes_on(r, a, "svc-steady");
  CHECK(count(a.log(), line) == 1);

  // A real pidfile again: the target follows it.
  child next({bin, "600"});
  auto restored = clock_type::now();
  write_file(pidfile, std::to_string(next.pid()) + "\n");
  auto up = require_point(r, heartbeat_of("svc-fifo", 1), 3000ms, "svc-fifo up again", "svc-fifo",
                          a, restored);
  CHECK(up.resource.at("process.pid") == std::to_string(next.pid()));
}

TEST_CASE(
    "hostile files: a pidfile that is a directory, a device, too long, or names init, a kernel "
    "thread, no PID or sidelight itself keeps its target down, with a message",
    "[hostile][files]") {
  temp_dir dir;
  otlp_receiver r;
  child live({sleep_binary(dir, "sl-live"), "600"});
  auto live_pid = std::to_string(live.pid());
  std::filesystem::create_directory(dir / "pf-dir.pid");
  std::filesystem::create_symlink("/dev/zero", dir / "pf-device.pid");
  write_file(dir / "pf-long.pid", live_pid + "\n" + std::string(100'000, ' '));
  write_file(dir / "pf-init.pid", "1\n");
  write_file(dir / "pf-zero.pid", "0\n");
  write_file(dir / "pf-garbage.pid", "hello\x01world\n");
  write_file(dir / "pf-ok.pid", live_pid + "\n");
  // pid 2 is kthreadd wherever the kernel's threads are visible (not in a PID namespace).
  std::ifstream kthread("/proc/2/comm");
  bool kernel_threads = kthread.good();
  write_file(dir / "pf-kthread.pid", "2\n");
  std::vector<std::pair<std::string, std::string>> refused = {
      {"pf-dir", "is a directory, not a regular file"},
      {"pf-device", "is a character device, not a regular file"},
      {"pf-long", "is larger than 64 bytes"},
      {"pf-init", "names pid 1 (init), which is never a service's own process"},
      {"pf-zero", "holds no pid ('0')"},
      {"pf-garbage", "holds no pid ('hello\\x01world')"},
      {"pf-self", ", sidelight itself"},
  };
  if (kernel_threads) refused.push_back({"pf-kthread", "names pid 2, a kernel thread"});
  std::string targets;
  for (const auto& [name, why] : refused)
    targets += "  - name: " + name + "\n    pidfile: " + dir / (name + ".pid") + "\n";
  targets += "  - name: pf-ok\n    pidfile: " + dir / "pf-ok.pid" + "\n";
  agent a(dir, fast_config(r, targets));
  write_file(dir / "pf-self.pid", std::to_string(a.pid()) + "\n");

  require_point(r, heartbeat_of("pf-ok", 1), 5000ms, "pf-ok up", "pf-ok", a);
  for (const auto& [name, why] : refused) {
    INFO(name);
    auto line = "target " + name + ": refusing the pidfile: ";
    REQUIRE(a.wait_for_log(line, bound(3s)));
    auto log = a.log();
    auto at = log.find(line);
    CHECK(log.substr(at, log.find('\n', at) - at).find(why) != std::string::npos);
    require_point(r, heartbeat_of(name, 0), 3000ms, name + " down", name, a);
  }
  // Two intervals later none of them was ever reported up.
  loop_goes_on(r, a, "pf-ok");
  loop_goes_on(r, a, "pf-ok");
  for (const auto& p : r.points()) {
    for (const auto& [name, why] : refused) {
      if (heartbeat_of(name, 1)(p)) FAIL(name << " was reported up: " << p.describe());
    }
  }
}

TEST_CASE("hostile files: a unit's cgroup.procs that is a FIFO blocks nothing",
          "[hostile][files]") {
  temp_dir dir;
  otlp_receiver r;
  child steady({sleep_binary(dir, "sl-steady2"), "600"});
  auto unit_dir = dir.path() / "cgroup" / "system.slice" / "fifo.service";
  std::filesystem::create_directories(unit_dir);
  REQUIRE(::mkfifo((unit_dir / "cgroup.procs").c_str(), 0644) == 0);
  agent a(
      dir,
      fast_config(r, "  - name: svc-unit\n    systemd_unit: fifo\n  - name: svc-steady\n    pid: " +
                         std::to_string(steady.pid()) + "\n"),
      {"SIDELIGHT_CGROUP_ROOT=" + (dir / "cgroup")});
  require_point(r, heartbeat_of("svc-unit", 0), 5000ms, "svc-unit down", "svc-unit", a);
  loop_goes_on(r, a, "svc-steady");
  loop_goes_on(r, a, "svc-steady");
}

TEST_CASE("hostile files: a configuration file replaced by a FIFO is refused at SIGHUP",
          "[hostile][files]") {
  temp_dir dir;
  otlp_receiver r;
  child steady({sleep_binary(dir, "sl-steady3"), "600"});
  auto yaml =
      fast_config(r, "  - name: svc-steady\n    pid: " + std::to_string(steady.pid()) + "\n");
  agent a(dir, yaml);
  require_point(r, heartbeat_of("svc-steady", 1), 5000ms, "svc-steady up", "svc-steady", a);
  auto good = read_file(a.config_path());

  make_fifo(a.config_path());
  a.signal(SIGHUP);
  REQUIRE(
      a.wait_for_log("cannot read the configuration file: it is a FIFO (named pipe), not a "
                     "regular file",
                     bound(3s)));
  REQUIRE(a.wait_for_log("reload refused", bound(1s)));
  loop_goes_on(r, a, "svc-steady");

  write_file(a.config_path(), good);
  a.signal(SIGHUP);
  REQUIRE(a.wait_for_log("reloaded " + a.config_path(), bound(3s)));
  loop_goes_on(r, a, "svc-steady");
}
