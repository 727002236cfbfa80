// Every target is on the map whether or not it has an instance: the target-level series
// (service.heartbeat and service.instances under a Resource without service.instance.id), on
// every surface: OTLP, /metrics, /api/v1/status and `sidelight status`. Real processes, killed
// for real; the heartbeat interval is long where a change must be seen at once.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/harness.hpp"
#include "support/heartbeat_checks.hpp"
#include "support/intake_client.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

point_filter instances_of(const std::string& svc, double value) {
  auto base = target_metric_of(svc, "service.instances");
  return [base, value](const point& p) { return base(p) && p.value == value; };
}

std::string admin_socket(const agent& a) {
  return a.admin_address().substr(5);  // "unix:PATH"
}

// The /metrics line of `series` (name and labels as printed), or "" when there is none.
std::string metrics_line(const agent& a, const std::string& series) {
  auto res = http_get(admin_socket(a), "/metrics");
  std::istringstream in(res.body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series, 0) == 0) return line;
  return "";
}

}  // namespace

TEST_CASE("process target with no match: down on every surface at once, and every interval",
          "[liveness]") {
  temp_dir dir;
  otlp_receiver r;
  auto started = clock_type::now();
  agent a(dir, config_for(r, "  - name: svc-none\n    process: { comm: sl-never-runs }\n", "1s"));

  auto down = require_point(r, target_heartbeat_of("svc-none", 0), 1000ms,
                            "target-level service.heartbeat=0 within 1 s of the start", "svc-none",
                            a, started);
  CHECK(down.attributes.at("service.status") == "down");
  CHECK(down.attributes.at("service.down.reason") == "unknown");
  CHECK(down.resource.count("service.instance.id") == 0);
  CHECK_FALSE(down.resource.at("host.name").empty());
  require_point(r, instances_of("svc-none", 0), 1000ms, "service.instances=0", "svc-none", a,
                started);

  // It stays on the map: the next two intervals carry it again.
  for (int i = 0; i < 2; ++i) {
    auto last = r.wait_for_after(clock_type::now(), target_heartbeat_of("svc-none", 0), bound(3s));
    INFO("interval " << i << "\n" << r.dump("svc-none") << a.log());
    REQUIRE(last);
  }

  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  CHECK(metrics_line(a, "sidelight_target_up{target=\"svc-none\"").ends_with(" 0"));
  CHECK(metrics_line(a,
                     "sidelight_target_status{target=\"svc-none\",service=\"svc-none\","
                     "status=\"down\"}")
            .ends_with(" 1"));
  CHECK(metrics_line(a, "sidelight_target_instances{target=\"svc-none\"").ends_with(" 0"));

  auto json = run_cli(dir, {"status", "--admin", a.admin_address(), "--json"});
  auto doc = nlohmann::json::parse(json.output);
  REQUIRE(doc["targets"].size() == 1);
  CHECK(doc["targets"][0]["state"] == "down");
  CHECK(doc["targets"][0]["down_reason"] == "unknown");
  auto table = run_cli(dir, {"status", "--admin", a.admin_address()});
  INFO(table.output);
  CHECK(table.output.find("svc-none") != std::string::npos);
  CHECK(table.output.find("DOWN") != std::string::npos);
}

TEST_CASE("process target whose only match is killed: instances 0 and heartbeat 0 within 1 s",
          "[liveness]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-only");
  child only({bin, "600"});
  agent a(dir, config_for(r, "  - name: svc-only\n    process: { comm: sl-only }\n", "1s"));

  auto up = require_point(r, target_heartbeat_of("svc-only", 1), 5000ms, "target-level heartbeat=1",
                          "svc-only", a);
  CHECK(up.attributes.at("service.status") == "running");
  CHECK(up.attributes.count("service.down.reason") == 0);
  require_point(r, instances_of("svc-only", 1), 5000ms, "service.instances=1", "svc-only", a);

  auto killed = clock_type::now();
  only.kill(SIGKILL);
  auto down =
      require_point(r, target_heartbeat_of("svc-only", 0), 1000ms,
                    "target-level heartbeat=0 within 1 s of SIGKILL", "svc-only", a, killed);
  auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(down.received - killed);
  WARN("kill -> target heartbeat 0 at the receiver: " << latency.count() << " ms");
  CHECK(down.attributes.at("service.status") == "down");
  require_point(r, instances_of("svc-only", 0), 1000ms, "service.instances=0 within 1 s",
                "svc-only", a, killed);
  // And it stays down at the following intervals.
  auto later = clock_type::now();
  require_point(r, target_heartbeat_of("svc-only", 0), 3000ms, "heartbeat=0 at the next interval",
                "svc-only", a, later);
  auto after = clock_type::now();
  require_point(r, instances_of("svc-only", 0), 3000ms, "instances=0 at the next interval",
                "svc-only", a, after);
}

TEST_CASE("min_instances: fewer live instances than asked is down", "[liveness]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-two");
  child one({bin, "600"});
  child two({bin, "601"});
  agent a(dir, config_for(r,
                          "  - name: svc-two\n    min_instances: 2\n"
                          "    process: { comm: sl-two }\n"));

  require_point(r, instances_of("svc-two", 2), 5000ms, "service.instances=2", "svc-two", a);
  require_point(r, target_heartbeat_of("svc-two", 1), 5000ms, "target heartbeat=1 with 2 of 2",
                "svc-two", a);
  auto killed = clock_type::now();
  one.kill(SIGKILL);
  auto down = require_point(r, target_heartbeat_of("svc-two", 0), 1000ms,
                            "target heartbeat=0 with 1 of 2", "svc-two", a, killed);
  CHECK(down.attributes.at("service.status") == "down");
  require_point(r, instances_of("svc-two", 1), 1000ms, "service.instances=1", "svc-two", a, killed);
  // The surviving instance is still up at its own level.
  CHECK(r.wait_for_after(killed, heartbeat_of("svc-two", 0), bound(1s)));

  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  CHECK(metrics_line(a, "sidelight_target_min_instances{target=\"svc-two\"").ends_with(" 2"));
  CHECK(metrics_line(a, "sidelight_target_up{target=\"svc-two\"").ends_with(" 0"));
}

namespace {

// A copy of `from` named `name` in `dir`, so a process: target can match it by comm.
std::string named_copy(const temp_dir& dir, const std::string& from, const std::string& name) {
  auto to = dir / name;
  std::filesystem::copy_file(from, to);
  std::filesystem::permissions(to, std::filesystem::perms::owner_all);
  return to;
}

// A shell script that waits for `go` to exist, then runs `then`.
std::vector<std::string> waits_then(const std::string& shell, const std::string& go,
                                    const std::string& then) {
  return {shell, "-c", "while [ ! -e '" + go + "' ]; do sleep 0.02; done; " + then};
}

std::optional<telemetry_record> exit_event_of(const otlp_receiver& r, const std::string& svc,
                                              std::chrono::milliseconds t) {
  return r.wait_for_log(
      [svc](const telemetry_record& rec) {
        auto it = rec.resource.find("service.name");
        return it != rec.resource.end() && it->second == svc &&
               rec.event_name == "sidelight.instance.exit";
      },
      bound(t));
}

std::string dump_logs(const otlp_receiver& r) {
  std::ostringstream s;
  s << "log records received:\n";
  for (const auto& rec : r.logs()) {
    s << "  [" << rec.event_name << "] " << rec.name;
    for (const auto& [k, v] : rec.attributes)
      s << " " << k << "=" << v;
    s << "\n";
  }
  return s.str();
}

// The reason on both heartbeat 0 points (target and instance), and the event.
telemetry_record require_reason(const otlp_receiver& r, const agent& a, const std::string& svc,
                                const std::string& reason, clock_type::time_point since) {
  auto target = require_point(r, target_heartbeat_of(svc, 0), 1000ms,
                              svc + " target heartbeat=0 within 1 s", svc, a, since);
  CHECK(target.attributes["service.down.reason"] == reason);
  auto instance = require_point(r, heartbeat_of(svc, 0), 1000ms,
                                svc + " instance heartbeat=0 within 1 s", svc, a, since);
  CHECK(instance.attributes["service.down.reason"] == reason);
  auto event = exit_event_of(r, svc, 2000ms);
  if (!event)
    FAIL("no sidelight.instance.exit event for " << svc << "\n" << dump_logs(r) << a.log());
  CHECK(event->resource.at("service.instance.id") == instance.resource.at("service.instance.id"));
  CHECK(event->attributes.at("service.down.reason") == reason);
  CHECK(event->schema_url.starts_with("https://opentelemetry.io/schemas/"));
  return *event;
}

}  // namespace

TEST_CASE("why it went down: SIGKILL, exit 3 and SIGSEGV, as attribute and as event",
          "[liveness][exit]") {
  temp_dir dir;
  otlp_receiver r;
  auto sh = named_copy(dir, "/bin/sh", "sl-exit3");
  auto segv = named_copy(dir, "/bin/sh", "sl-segv");
  auto go = dir / "go";
  child killed({sleep_binary(dir, "sl-kill"), "600"});
  child exits(waits_then(sh, go, "exit 3"));
  child faults(waits_then(segv, go, "kill -SEGV $$"));
  agent a(dir, config_for(r,
                          "  - name: svc-kill\n    process: { comm: sl-kill }\n"
                          "  - name: svc-exit3\n    process: { comm: sl-exit3 }\n"
                          "  - name: svc-segv\n    process: { comm: sl-segv }\n"));
  for (const auto* svc : {"svc-kill", "svc-exit3", "svc-segv"})
    require_point(r, heartbeat_of(svc, 1), 5000ms, std::string(svc) + " up", svc, a);

  auto since = clock_type::now();
  killed.kill(SIGKILL);
  write_file(go, "");
  auto k = require_reason(r, a, "svc-kill", "signaled", since);
  CHECK(k.name == "svc-kill exited: killed by SIGKILL");
  CHECK(k.severity_number == 17);  // ERROR
  CHECK(k.attributes.at("process.exit.signal") == "SIGKILL");
  CHECK(k.attributes.at("process.exit.oom_kill") == "false");
  CHECK(k.attributes.count("process.exit.code") == 0);

  auto e = require_reason(r, a, "svc-exit3", "exited", since);
  CHECK(e.name == "svc-exit3 exited: exit code 3");
  CHECK(e.severity_number == 13);  // WARN
  CHECK(e.attributes.at("process.exit.code") == "3");
  CHECK(e.attributes.count("process.exit.signal") == 0);

  auto s = require_reason(r, a, "svc-segv", "signaled", since);
  CHECK(s.name.starts_with("svc-segv exited: killed by SIGSEGV"));
  CHECK(s.attributes.at("process.exit.signal") == "SIGSEGV");
  CHECK(s.attributes.count("process.exit.core_dumped") == 1);
}

namespace {

// A memory cgroup of 64 MiB (no swap) this test may create, under its own: v1 `memory`, or v2
// where the memory controller is delegated. Empty with a reason when the machine cannot.
struct memory_cgroup {
  std::string dir;
  std::string why_not;
  ~memory_cgroup() {
    if (!dir.empty()) ::rmdir(dir.c_str());
  }
};

std::string own_cgroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (line.substr(a + 1, b - a - 1) == controller) return line.substr(b + 1);
  }
  return "";
}

void make_memory_cgroup(memory_cgroup& cg) {
  if (::geteuid() != 0) {
    cg.why_not = "not root";
    return;
  }
  auto name = "/sidelight-oom-test-" + std::to_string(::getpid());
  auto v1 = own_cgroup("memory");
  std::string dir, limit, swap;
  if (!v1.empty() && std::filesystem::exists("/sys/fs/cgroup/memory" + v1)) {
    dir = "/sys/fs/cgroup/memory" + (v1 == "/" ? "" : v1) + name;
    limit = "memory.limit_in_bytes";
    swap = "memory.memsw.limit_in_bytes";
  } else if (std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers")) {
    auto v2 = own_cgroup("");
    dir = "/sys/fs/cgroup" + (v2 == "/" ? "" : v2) + name;
    limit = "memory.max";
    swap = "memory.swap.max";
  } else {
    cg.why_not = "no cgroup v1 memory controller or cgroup v2 here";
    return;
  }
  if (::mkdir(dir.c_str(), 0755) != 0) {
    cg.why_not = "cannot create " + dir + ": " + std::strerror(errno);
    return;
  }
  cg.dir = dir;
  if (!std::filesystem::exists(dir + "/" + limit)) {
    cg.why_not = "no memory controller in " + dir;
    return;
  }
  std::ofstream(dir + "/" + limit) << (64 << 20);
  if (std::filesystem::exists(dir + "/" + swap)) std::ofstream(dir + "/" + swap) << (64 << 20);
}

}  // namespace

TEST_CASE("why it went down: OOM-killed in a memory-limited cgroup", "[liveness][exit][oom]") {
  memory_cgroup cg;
  make_memory_cgroup(cg);
  if (!cg.why_not.empty()) {
    WARN("skipped: cannot make a memory-limited cgroup: " << cg.why_not);
    return;
  }
  temp_dir dir;
  otlp_receiver r;
  auto sh = named_copy(dir, "/bin/sh", "sl-oom");
  auto go = dir / "go";
  // The shell joins the cgroup, waits for the word, then grows a string past the limit.
  child hog({sh, "-c",
             "echo $$ > '" + cg.dir + "/cgroup.procs' && while [ ! -e '" + go +
                 "' ]; do sleep 0.02; done; x=a; while :; do x=$x$x; done"});
  // sidelight reads the OOM count of the cgroup the process is in when it first sees it.
  auto joined = [&] {
    auto procs = read_file(cg.dir + "/cgroup.procs");
    return ("\n" + procs).find("\n" + std::to_string(hog.pid()) + "\n") != std::string::npos;
  };
  auto deadline = clock_type::now() + bound(5s);
  while (!joined() && clock_type::now() < deadline)
    std::this_thread::sleep_for(10ms);
  REQUIRE(joined());
  agent a(dir, config_for(r, "  - name: svc-oom\n    process: { comm: sl-oom }\n"));
  require_point(r, heartbeat_of("svc-oom", 1), 5000ms, "svc-oom up", "svc-oom", a);

  auto since = clock_type::now();
  write_file(go, "");
  auto status = hog.wait(bound(10s));
  REQUIRE(status != -1);
  INFO("the hog ended with wait status " << status);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  auto e = require_reason(r, a, "svc-oom", "oom_killed", since);
  CHECK(e.name == "svc-oom exited: killed by SIGKILL (OOM)");
  CHECK(e.attributes.at("process.exit.oom_kill") == "true");
  CHECK(e.severity_number == 17);
}

TEST_CASE("crash loop: instances ending crash_loop.restarts times within the window",
          "[liveness][crash_loop]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-loop");
  agent a(dir, config_for(r,
                          "  - name: svc-loop\n    crash_loop: { restarts: 3, window: 1m }\n"
                          "    process: { comm: sl-loop }\n"));
  auto is_loop = [](const point& p) {
    return target_metric_of("svc-loop", "service.heartbeat")(p) &&
           p.attributes.at("service.status") == "crash_loop";
  };
  for (int i = 0; i < 3; ++i) {
    auto since = clock_type::now();
    child c({bin, "600"});
    auto pid = std::to_string(c.pid());
    require_point(
        r,
        [&](const point& p) {
          return heartbeat_of("svc-loop", 1)(p) && p.resource.at("process.pid") == pid;
        },
        bound(5s), "instance " + std::to_string(i) + " up", "svc-loop", a, since);
    CHECK_FALSE(r.wait_for_after(since, is_loop, 0ms));
    c.kill(SIGKILL);
    require_point(r, heartbeat_of("svc-loop", 0), bound(1s), "instance down", "svc-loop", a, since);
  }
  auto loop =
      require_point(r, is_loop, bound(1s), "service.status=crash_loop after 3 ends", "svc-loop", a);
  CHECK(loop.value == 0);  // and down: no instance is live now
  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  auto json = run_cli(dir, {"status", "--admin", a.admin_address(), "--json"});
  auto doc = nlohmann::json::parse(json.output);
  CHECK(doc["targets"][0]["state"] == "crash_loop");
}
