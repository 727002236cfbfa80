// Detection latency and idle cost of the heartbeat path, measured end to end: the real sidelight
// binary watches N real processes and exports over OTLP/gRPC to a receiver in this program.
//
//   sidelight_heartbeat_bench [--processes N] [--kills K] [--idle SECONDS]
//
// 1. Kill -> service.heartbeat=0 received upstream, K times (one process at a time).
// 2. New matching process -> first service.heartbeat=1 received upstream, K times.
// 3. With N processes watched at the default 15 s interval: sidelight's CPU time and RSS over
//    SECONDS of idling.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "process_usage.hpp"
#include "support/harness.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

using sidelight::bench::usage_of;

struct summary {
  std::vector<double> ms;
  void add(clock_type::duration d) {
    ms.push_back(std::chrono::duration<double, std::milli>(d).count());
  }
  double pct(double p) {
    std::sort(ms.begin(), ms.end());
    auto i = static_cast<std::size_t>(p / 100.0 * double(ms.size() - 1) + 0.5);
    return ms[std::min(i, ms.size() - 1)];
  }
  void print(const char* what) {
    std::printf("%-44s n=%zu  p50=%.1f ms  p90=%.1f ms  p99=%.1f ms  max=%.1f ms\n", what,
                ms.size(), pct(50), pct(90), pct(99), pct(100));
  }
};

point_filter beat_of_pid(pid_t pid, int value) {
  auto want = std::to_string(pid);
  return [want, value](const point& p) {
    auto it = p.resource.find("process.pid");
    return heartbeat_of("bench", value)(p) && it != p.resource.end() && it->second == want;
  };
}

}  // namespace

int main(int argc, char** argv) {
  int processes = 100, kills = 100, idle_seconds = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--processes")
      processes = std::atoi(argv[i + 1]);
    else if (a == "--kills")
      kills = std::atoi(argv[i + 1]);
    else if (a == "--idle")
      idle_seconds = std::atoi(argv[i + 1]);
  }
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "bench-sl");
  std::vector<std::unique_ptr<child>> kids;
  for (int i = 0; i < processes; ++i)
    kids.push_back(std::make_unique<child>(std::vector<std::string>{bin, "3600"}));

  agent a(dir, "exporters:\n  otlp: { endpoint: '" + r.endpoint() +
                   "', compression: none }\ntargets:\n  - name: bench\n    process: { comm: "
                   "bench-sl }\n");
  for (auto& k : kids) {
    if (!r.wait_for(beat_of_pid(k->pid(), 1), 20s)) {
      std::cerr << "timed out waiting for the first heartbeat of pid " << k->pid() << "\n"
                << a.log();
      return 1;
    }
  }
  std::printf("sidelight %d, watching %d processes (process target, comm match)\n", a.pid(),
              processes);

  summary down, up;
  auto before = usage_of(a.pid());
  for (int i = 0; i < kills; ++i) {
    auto& victim = kids[std::size_t(i) % kids.size()];
    pid_t pid = victim->pid();
    auto t0 = clock_type::now();
    victim->kill(SIGKILL);
    auto got = r.wait_for_after(t0, beat_of_pid(pid, 0), 10s);
    if (!got) {
      std::cerr << "no heartbeat=0 for pid " << pid << " within 10 s\n";
      return 1;
    }
    down.add(got->received - t0);
    victim->wait(5s);
    auto t1 = clock_type::now();
    victim = std::make_unique<child>(std::vector<std::string>{bin, "3600"});
    auto fresh = r.wait_for_after(t1, beat_of_pid(victim->pid(), 1), 10s);
    if (!fresh) {
      std::cerr << "no heartbeat=1 for new pid " << victim->pid() << " within 10 s\n";
      return 1;
    }
    up.add(fresh->received - t1);
  }
  auto after = usage_of(a.pid());
  down.print("kill -> heartbeat=0 received upstream");
  up.print("new process -> heartbeat=1 received upstream");
  std::printf("sidelight CPU during the %d kills and %d starts: %.2f s\n", kills, kills,
              after.cpu_seconds - before.cpu_seconds);

  // Idle: nothing changes; every instance is exported every 15 s.
  auto idle0 = usage_of(a.pid());
  auto start = clock_type::now();
  std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
  auto idle1 = usage_of(a.pid());
  double wall = std::chrono::duration<double>(clock_type::now() - start).count();
  double cpu = idle1.cpu_seconds - idle0.cpu_seconds;
  std::printf(
      "idle %d processes, 15 s interval, %.0f s: CPU %.3f s = %.3f%% of one core; "
      "RSS %.1f MiB (peak %.1f MiB); %zu export requests received in total\n",
      processes, wall, cpu, 100.0 * cpu / wall, idle1.rss_kib / 1024.0, idle1.hwm_kib / 1024.0,
      r.requests());
  return 0;
}
