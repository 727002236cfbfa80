#include "intake_burst.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "process_usage.hpp"

namespace sidelight::bench {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// The resource attribute value of requests first sent after the upstream came back.
constexpr const char* kMarker = "sidelight-bench-after-recovery";
// ... and of requests sent after sidelight's first export after that.
constexpr const char* kLateMarker = "sidelight-bench-after-first-export";
constexpr auto kQuiet = 120s;  // the wait for delivery gives up this long after progress
constexpr double kRssTargetMiB = 64 + 16;  // the default queue.max_bytes + 16 MiB

struct request_sets {
  std::vector<std::string> plain;
  std::vector<std::string> marked;
  std::vector<std::string> late;
};

// The agent in the middle: the client sends to `socket`, it forwards to the upstream Collector.
struct middle {
  bool sidelight = false;
  std::string socket;
  std::string log;
  int admin_port = 0;  // sidelight's /metrics
  std::unique_ptr<process> proc;
  const char* name() const { return sidelight ? "sidelight" : "collector"; }
};

// sidelight on its defaults: only the intake socket, the exporter's endpoint and the admin
// address are set (so batch, queue.max_bytes 64 MiB, queue.when_full and gzip are its defaults).
middle start_sidelight(const burst_options& o, const fs::path& dir, int upstream_port) {
  middle m{true, (dir / "burst-sidelight.sock").string(), (dir / "burst-sidelight.log").string(),
           free_tcp_port(), nullptr};
  auto config = (dir / "burst-sidelight.yaml").string();
  std::ofstream(config) << "intake:\n  otlp_grpc: { unix: " << m.socket << " }\n"
                        << "exporters:\n  otlp: { endpoint: 'http://127.0.0.1:" << upstream_port
                        << "' }\nadmin: { listen: '127.0.0.1:" << m.admin_port << "' }\n";
  fs::remove(m.socket);
  m.proc = std::make_unique<process>(
      std::vector<std::string>{o.sidelight, "run", "--config", config}, m.log);
  if (!wait_socket(m.socket, *m.proc, "sidelight", m.log)) m.proc.reset();
  return m;
}

// The Collector on its defaults: otlp receiver on a Unix socket, the batch processor and the otlp
// exporter (its sending_queue and retry_on_failure as they come). Its own metrics are off only so
// that two Collectors do not both want port 8888.
middle start_collector(const burst_options& o, const fs::path& dir, int upstream_port) {
  middle m{false, (dir / "burst-otelcol.sock").string(), (dir / "burst-otelcol.log").string(), 0,
           nullptr};
  auto config = (dir / "burst-otelcol.yaml").string();
  std::ofstream(config) << "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: "
                        << m.socket << "\n        transport: unix\nprocessors:\n  batch: {}\n"
                        << "exporters:\n  otlp:\n    endpoint: 127.0.0.1:" << upstream_port
                        << "\n    tls: { insecure: true }\n"
                        << "service:\n  telemetry: { metrics: { level: none } }\n"
                        << "  pipelines:\n    traces: { receivers: [otlp], processors: [batch], "
                           "exporters: [otlp] }\n";
  fs::remove(m.socket);
  m.proc =
      std::make_unique<process>(std::vector<std::string>{o.collector, "--config", config}, m.log);
  if (!wait_socket(m.socket, *m.proc, "the Collector", m.log)) m.proc.reset();
  return m;
}

struct figures {
  double sent = 0;
  double delivered = 0;
  double dropped = 0;
  std::string dropped_text = "-";
  double refusals = 0;
  double non_retryable = 0;
  std::string refused_text;
  double peak_rss_mib = 0;
  double cpu_s = 0;
  double wall_s = 0;
  double marked_sent = 0;  // spans first sent after the upstream came back
  double marked_delivered = 0;
  double late_sent = 0;  // sidelight: spans sent after its first export once the upstream was back
  double late_delivered = 0;
  double dropped_before_kill = 0;  // sidelight, while the upstream was still healthy
  double dropped_after_back = 0;   // sidelight, after the upstream listened again
  double recovered_after_s = -1;   // sidelight: its first traces export after that
  double upstream_rss_mib = 0;
  double upstream_cpu_s = 0;
  double fraction() const { return sent > 0 ? delivered / sent : 0; }
  double marked_fraction() const { return marked_sent > 0 ? marked_delivered / marked_sent : 0; }
  double late_fraction() const { return late_sent > 0 ? late_delivered / late_sent : 0; }
};

// sidelight's books at the kill and when the upstream listened again, and how long after that
// its first traces export succeeded (until then it takes everything and drops its oldest).
struct outage {
  books at_kill;
  books at_back;
  double recovered_after_s = -1;
  std::uint64_t late_accepted = 0;  // spans sent after that first export, accepted
};

double await_export(int admin_port, const books& at_back) {
  auto t0 = clock_type::now();
  while (clock_type::now() - t0 < 60s) {
    bool ok = false;
    auto b = read_books(admin_port, ok);
    if (ok && b.requests_ok > at_back.requests_ok)
      return std::chrono::duration<double>(clock_type::now() - t0).count();
    std::this_thread::sleep_for(5ms);
  }
  std::fprintf(stderr,
               "sidelight: no traces export succeeded within 60 s of the upstream's return\n");
  return -1;
}

// The upstream is SIGKILLed and started again on its port 3 s later; `state` becomes 1 once it
// listens (-1 if it did not come up).
std::thread kill_and_restart(const middle& m, upstream_collector& up, outage& out,
                             std::atomic<int>& state) {
  bool ok = true;
  if (m.sidelight) out.at_kill = read_books(m.admin_port, ok);
  up.kill();
  return std::thread([&m, &up, &out, &state] {
    std::this_thread::sleep_for(3s);
    if (!up.start()) {
      state = -1;
      return;
    }
    bool fine = true;
    if (m.sidelight) out.at_back = read_books(m.admin_port, fine);
    state = 1;
    if (m.sidelight) out.recovered_after_s = await_export(m.admin_port, out.at_back);
  });
}

// Sends the burst. With kill_upstream, the upstream is killed once half the requests were
// answered; requests first sent after it listens again carry the marker. The burst may be over
// before that (intake is faster than any upstream), so a quarter more requests, all marked, are
// sent (unpaced) as soon as it listens.
client_report drive(const burst_options& o, const middle& m, upstream_collector& up,
                    const request_sets& rq, outage& out) {
  std::atomic<int> state{0};
  std::atomic<bool> back{false};
  std::thread restarter;
  auto plan = plan_for(rq.plain, o.spans, o.requests, o.in_flight);
  plan.marked = &rq.marked;
  plan.mark_now = &back;
  if (o.kill_upstream) {
    plan.on_answered = [&](int answered) {
      if (answered == o.requests / 2) restarter = kill_and_restart(m, up, out, state);
      if (state == 1) back = true;
    };
  }
  auto channel = channel_to("unix:" + m.socket, false);
  auto report = send(channel, plan);
  auto deadline = clock_type::now() + 60s;
  while (o.kill_upstream && state == 0 && clock_type::now() < deadline)
    std::this_thread::sleep_for(1ms);
  if (o.kill_upstream && state == 1) {
    back = true;
    auto after = plan;
    after.total = o.requests / 4;
    after.on_answered = {};
    report.add(send(channel, after));
  }
  if (restarter.joinable()) restarter.join();
  // Once sidelight's first export after the return succeeded, a quarter more with the late
  // marker: sidelight knows the upstream is back, so these must be pushed back on, not dropped.
  if (m.sidelight && out.recovered_after_s >= 0) {
    auto late = plan_for(rq.late, o.spans, o.requests / 4, o.in_flight);
    auto r = send(channel, late);
    out.late_accepted = r.spans_accepted;
    report.add(r);
  }
  return report;
}

figures run_once(const burst_options& o, sink& s, const fs::path& dir, bool sidelight,
                 const request_sets& rq) {
  figures f;
  upstream_collector up(o.collector, dir, s.port());
  auto m = sidelight ? start_sidelight(o, dir, up.port()) : start_collector(o, dir, up.port());
  if (!m.proc) return f;
  bool ok = true;
  auto before = sidelight ? read_books(m.admin_port, ok) : books{};
  if (!ok) fail("sidelight: could not read /metrics on port " + std::to_string(m.admin_port));
  s.mark(o.kill_upstream ? kMarker : "", o.kill_upstream ? kLateMarker : "");
  auto d0 = s.now();
  auto u0 = usage_of(m.proc->pid());
  auto t0 = clock_type::now();
  outage out{before, before};
  auto r = drive(o, m, up, rq, out);
  // The Collector retries at most every 30 s by default: after a kill, a minute of silence
  // means it has given up on what is missing.
  auto quiet = !sidelight && o.kill_upstream ? std::chrono::seconds(60) : kQuiet;
  bool complete = await_delivery(s, m.name(), m.admin_port, d0, before, r, quiet);
  auto d1 = s.now();
  auto u1 = usage_of(m.proc->pid());
  auto uu = usage_of(up.pid());
  f.sent = static_cast<double>(r.spans_sent);
  f.delivered = static_cast<double>(d1.spans - d0.spans);
  f.refusals = static_cast<double>(r.refusals());
  f.refused_text = r.refused_text();
  f.non_retryable = static_cast<double>(r.non_retryable);
  f.peak_rss_mib = double(u1.hwm_kib) / 1024;
  f.cpu_s = u1.cpu_seconds - u0.cpu_seconds;
  f.wall_s = std::chrono::duration<double>(d1.last - t0).count();
  f.marked_sent = static_cast<double>(r.marked_accepted);
  f.marked_delivered = static_cast<double>(d1.marked - d0.marked);
  f.late_sent = static_cast<double>(out.late_accepted);
  f.late_delivered = static_cast<double>(d1.late - d0.late);
  f.dropped_before_kill = since(out.at_kill, before).dropped_total();
  f.recovered_after_s = out.recovered_after_s;
  f.upstream_rss_mib = double(uu.hwm_kib) / 1024;
  f.upstream_cpu_s = uu.cpu_seconds;
  if (d1.invalid != d0.invalid) fail(std::string(m.name()) + ": the sink got invalid requests");
  if (sidelight) {
    auto b = check_books(m.admin_port, before, r, f.delivered, o.kill_upstream);
    f.dropped = b.dropped_total();
    f.dropped_after_back = f.dropped - since(out.at_back, before).dropped_total();
    f.dropped_text = b.dropped_text();
  }
  if (!sidelight && !complete) f.dropped = f.sent - f.delivered;
  return f;
}

void print_run(const burst_options& o, const char* who, int run, const figures& f) {
  std::printf(
      "%-9s run %d: delivered %.0f of %.0f spans (%.3f%%), dropped %s, calls refused %s, peak RSS "
      "%.1f MiB, %.2f CPU-s (%.3f M delivered spans/CPU-s), last span at %.2f s; upstream "
      "Collector: peak RSS %.1f MiB, %.2f CPU-s\n",
      who, run, f.delivered, f.sent, 100 * f.fraction(), f.dropped_text.c_str(),
      f.refused_text.c_str(), f.peak_rss_mib, f.cpu_s, f.delivered / f.cpu_s / 1e6, f.wall_s,
      f.upstream_rss_mib, f.upstream_cpu_s);
  if (!o.kill_upstream) return;
  std::printf("%-9s run %d: sent after the upstream came back %.0f spans, delivered %.0f\n", who,
              run, f.marked_sent, f.marked_delivered);
  if (f.recovered_after_s == -1 && f.dropped_before_kill == 0 && f.dropped_after_back == 0) return;
  std::printf(
      "%-9s run %d: books: dropped before the kill %.0f, after the upstream came back %.0f; first "
      "traces export %.2f s after it came back; sent after that %.0f spans, delivered %.0f\n",
      who, run, f.dropped_before_kill, f.dropped_after_back, f.recovered_after_s, f.late_sent,
      f.late_delivered);
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

using figure_fn = double (*)(const figures&);

std::vector<double> each(const std::vector<figures>& runs, figure_fn f) {
  std::vector<double> out;
  for (const auto& r : runs)
    out.push_back(f(r));
  return out;
}

// The summary as a Markdown table, for docs/PERFORMANCE.md.
void print_summary(const burst_options& o, const std::vector<figures>& sl,
                   const std::vector<figures>& oc) {
  struct row {
    const char* what;
    figure_fn f;
    int digits;
  };
  std::vector<row> rows = {
      {"delivered, % of spans sent", [](const figures& f) { return 100 * f.fraction(); }, 3},
      {"spans dropped", [](const figures& f) { return f.dropped; }, 0},
      {"client calls refused (retried)", [](const figures& f) { return f.refusals; }, 0},
      {"peak RSS of the agent, MiB", [](const figures& f) { return f.peak_rss_mib; }, 1},
      {"CPU-seconds of the agent", [](const figures& f) { return f.cpu_s; }, 2},
      {"delivered spans per CPU-second, M",
       [](const figures& f) { return f.delivered / f.cpu_s / 1e6; }, 3},
      {"seconds until the last span reached the sink", [](const figures& f) { return f.wall_s; },
       2},
      {"upstream Collector: peak RSS, MiB", [](const figures& f) { return f.upstream_rss_mib; }, 1},
      {"upstream Collector: CPU-seconds", [](const figures& f) { return f.upstream_cpu_s; }, 2},
  };
  if (o.kill_upstream) {
    rows.push_back({"sent after the upstream came back: spans",
                    [](const figures& f) { return f.marked_sent; }, 0});
    rows.push_back(
        {"of those, delivered, %", [](const figures& f) { return 100 * f.marked_fraction(); }, 3});
    rows.push_back({"sent after sidelight's first export after that: spans",
                    [](const figures& f) { return f.late_sent; }, 0});
    rows.push_back(
        {"of those, delivered, %", [](const figures& f) { return 100 * f.late_fraction(); }, 3});
    rows.push_back({"spans dropped before the kill (sidelight's books)",
                    [](const figures& f) { return f.dropped_before_kill; }, 0});
    rows.push_back({"spans dropped after the upstream came back (sidelight's books)",
                    [](const figures& f) { return f.dropped_after_back; }, 0});
    rows.push_back({"seconds from the upstream's return to sidelight's first export",
                    [](const figures& f) { return f.recovered_after_s; }, 2});
  }
  std::printf("\nburst%s: %d requests x %d spans, %d in flight, %zu run(s), min / median / max\n",
              o.kill_upstream ? " with the upstream killed halfway" : "", o.requests, o.spans,
              o.in_flight, sl.size());
  std::printf("| figure | sidelight (defaults) | Collector (defaults) |\n|---|---|---|\n");
  for (const auto& r : rows) {
    std::printf("| %s | %s | %s |\n", r.what, spread(each(sl, r.f), r.digits).c_str(),
                spread(each(oc, r.f), r.digits).c_str());
  }
}

void verdict(const char* target, bool held, const std::string& measured) {
  std::printf("target %-60s %s (%s)\n", target, held ? "held" : "NOT HELD", measured.c_str());
  if (!held) std::fprintf(stderr, "target not held: %s (%s)\n", target, measured.c_str());
}

// Issue 14's targets for sidelight, over all runs.
void print_targets(const burst_options& o, const std::vector<figures>& sl) {
  if (sl.empty()) return;
  auto v = [&](figure_fn f) { return each(sl, f); };
  auto lo = [](std::vector<double> x) { return *std::min_element(x.begin(), x.end()); };
  auto hi = [](std::vector<double> x) { return *std::max_element(x.begin(), x.end()); };
  auto fraction = v([](const figures& f) { return 100 * f.fraction(); });
  auto rss = v([](const figures& f) { return f.peak_rss_mib; });
  auto bad = v([](const figures& f) { return f.non_retryable; });
  auto dropped = v([](const figures& f) { return f.dropped; });
  std::printf("\n");
  if (!o.kill_upstream) {
    verdict(">= 99.9% delivered", lo(fraction) >= 99.9, "min " + fixed(lo(fraction), 3));
    verdict("0 spans dropped while the upstream was healthy", hi(dropped) == 0,
            "max " + fixed(hi(dropped), 0));
  }
  verdict("peak RSS <= queue bound (64 MiB) + 16 MiB", hi(rss) <= kRssTargetMiB,
          "max " + fixed(hi(rss), 1) + " MiB");
  verdict("client calls refused only with retryable statuses", hi(bad) == 0,
          "non-retryable refusals, max " + fixed(hi(bad), 0));
  if (o.kill_upstream) {
    auto after = v([](const figures& f) { return 100 * f.marked_fraction(); });
    verdict("everything sent after the upstream came back delivered", lo(after) >= 100,
            "min " + fixed(lo(after), 3) + "%");
    auto late = v([](const figures& f) { return 100 * f.late_fraction(); });
    verdict("everything sent after sidelight's first export after that delivered", lo(late) >= 100,
            "min " + fixed(lo(late), 3) + "%");
    std::printf(
        "(drops only queue_full and balanced books are checked in every run: FAIL lines "
        "above if not)\n");
  }
}

}  // namespace

void run_burst(const burst_options& o, sink& s, const fs::path& dir) {
  request_sets rq;
  for (int i = 0; i < 16; ++i) {
    rq.plain.push_back(make_request(o.spans, i));
    rq.marked.push_back(make_request(o.spans, i, kMarker));
    rq.late.push_back(make_request(o.spans, i, kLateMarker));
  }
  std::vector<figures> sl, oc;
  for (int run = 1; run <= o.runs; ++run) {
    sl.push_back(run_once(o, s, dir, true, rq));
    print_run(o, "sidelight", run, sl.back());
    oc.push_back(run_once(o, s, dir, false, rq));
    print_run(o, "collector", run, oc.back());
  }
  print_summary(o, sl, oc);
  print_targets(o, sl);
}

}  // namespace sidelight::bench
