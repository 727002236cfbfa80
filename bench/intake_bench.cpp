// Intake throughput and latency, end to end, side by side with the OpenTelemetry Collector doing
// the same job on the same machine in the same run.
//
//   sidelight_intake_bench [--requests N] [--spans 512] [--in-flight 8] [--gzip]
//                          [--collector PATH] [--upstream sink|collector] [--latency-requests N]
//                          [--ndjson-lines N] [--upstream-down] [--spool] [--spool-fsync] [--http]
//   sidelight_intake_bench --burst [--kill-upstream] --collector PATH [--requests 3000]
//                          [--spans 512] [--in-flight 8] [--runs 3]
//
// A client in this program sends N pre-serialized ExportTraceServiceRequests of 512 spans
// (about 334 bytes a span, a typical instrumented HTTP server span) over OTLP/gRPC on a Unix
// socket, several in flight, retrying pushback as an SDK does; the agent forwards them over
// OTLP/gRPC to a sink in this program that counts the spans delivered (with `--upstream
// collector`, through a real Collector first). Reported: spans delivered per CPU-second of the
// agent (its utime + stime from /proc, nothing else), wall throughput and peak RSS; sidelight's
// own books (/metrics) must explain any span accepted and not delivered. Then, one request at a
// time, the latency from sending to the sink's receipt, against the configured batch timeout.
// Then NDJSON: log lines per CPU-second. `--burst`: see intake_burst.hpp.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "intake_burst.hpp"
#include "intake_peers.hpp"
#include "process_usage.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using namespace sidelight::bench;

namespace {

// The agent under test: this build's, or $SIDELIGHT_TEST_BINARY (another build, measured in the
// same session for a before-and-after comparison).
std::string agent_binary() {
  const char* other = std::getenv("SIDELIGHT_TEST_BINARY");
  return other != nullptr && *other != '\0' ? other : SIDELIGHT_BINARY;
}

struct options {
  int requests = 2000;
  int spans = 512;
  int in_flight = 8;
  bool gzip = false;
  std::string collector;
  bool upstream_collector = false;  // --upstream collector: a real Collector between agent and sink
  int latency_requests = 200;
  long ndjson_lines = 2000000;
  bool upstream_down = false;
  bool http = false;   // export over OTLP/HTTP instead of OTLP/gRPC (sidelight and the Collector)
  bool spool = false;  // the exporter with an on-disk spool (in the temp directory)
  bool spool_fsync = false;
  bool burst = false;
  bool kill_upstream = false;
  int runs = 1;
};

// Where an agent sends: the sink, or a Collector started for it in front of the sink.
struct upstream {
  std::unique_ptr<upstream_collector> collector;
  int grpc_port = 0;
  int http_port = 0;
};

upstream upstream_for(const options& o, sink& s, const fs::path& dir) {
  upstream u;
  u.grpc_port = s.port();
  u.http_port = s.http_port();
  if (o.upstream_collector) {
    u.collector = std::make_unique<upstream_collector>(o.collector, dir, s.port());
    u.grpc_port = u.collector->port();
  }
  return u;
}

struct result {
  double delivered = 0;
  double cpu_s = 0;
  double wall_s = 0;
  long hwm_kib = 0;
  client_report client;
};

// One measured window: `o.requests` requests after a warm-up (connections, buffers, the
// Collector's lazily grown pools), until the sink has them all. With `admin_port` (sidelight),
// its books are read before and after and must explain any span not delivered.
result throughput(const std::string& who, pid_t pid, const std::string& socket, sink& up,
                  const std::vector<std::string>& requests, const options& o, int admin_port) {
  auto channel = channel_to("unix:" + socket, o.gzip);
  bool ok = true;
  auto books0 = admin_port ? read_books(admin_port, ok) : books{};
  auto d = up.now();
  auto warm = send(channel, plan_for(requests, o.spans, 50, o.in_flight));
  await_delivery(up, who + " (warm-up)", admin_port, d, books0, warm, 60s);
  auto before = admin_port ? read_books(admin_port, ok) : books{};
  if (!ok) fail(who + ": could not read /metrics on port " + std::to_string(admin_port));
  auto d0 = up.now();
  auto u0 = usage_of(pid);
  auto t0 = clock_type::now();
  result r;
  r.client = send(channel, plan_for(requests, o.spans, o.requests, o.in_flight));
  await_delivery(up, who, admin_port, d0, before, r.client, 120s);
  auto d1 = up.now();
  auto u1 = usage_of(pid);
  r.delivered = static_cast<double>(d1.spans - d0.spans);
  r.cpu_s = u1.cpu_seconds - u0.cpu_seconds;
  r.wall_s = std::chrono::duration<double>(d1.last - t0).count();
  r.hwm_kib = u1.hwm_kib;
  if (d1.invalid != d0.invalid) fail(who + ": the sink got requests that are not valid OTLP");
  if (admin_port) check_books(admin_port, before, r.client, r.delivered, false);
  return r;
}

// What the run does beyond the plain case, for its line: " gzip, OTLP/HTTP out, spool".
std::string how(const std::string& who, const options& o) {
  std::string out = o.gzip ? " gzip" : "";
  if (o.http) out += ", OTLP/HTTP out";
  if (o.upstream_collector) out += ", Collector upstream";
  if (who == "sidelight" && o.spool) out += o.spool_fsync ? ", spool+fsync" : ", spool";
  return out;
}

void print(const std::string& who, const result& r, const options& o) {
  auto sent = static_cast<double>(r.client.spans_sent);
  std::printf(
      "%-10s %7d requests x %d spans%s: %8.0f delivered spans/CPU-s  (%6.2f CPU-s, %8.0f "
      "delivered spans/s wall, peak RSS %.1f MiB; delivered %.0f of %.0f sent, %.3f%%, calls "
      "refused %s)\n",
      who.c_str(), o.requests, o.spans, how(who, o).c_str(), r.delivered / r.cpu_s, r.cpu_s,
      r.delivered / r.wall_s, double(r.hwm_kib) / 1024, r.delivered, sent, 100 * r.delivered / sent,
      r.client.refused_text().c_str());
  if (r.delivered < sent && who != "sidelight") {
    std::printf("%-10s shortfall: %.0f spans sent and not delivered\n", who.c_str(),
                sent - r.delivered);
  }
}

}  // namespace

namespace {

// One request at a time, send -> received by the sink.
void latency(const std::string& sock, sink& up, const std::vector<std::string>& requests,
             const options& o) {
  std::vector<double> ms;
  auto channel = channel_to("unix:" + sock, o.gzip);
  for (int i = 0; i < o.latency_requests; ++i) {
    auto before = up.now().spans;
    auto t0 = clock_type::now();
    auto r = send(channel, plan_for(requests, o.spans, 1, 1));
    up.wait([&](const delivered& d) { return d.spans >= before + r.spans_accepted; }, 10s);
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  if (ms.empty()) return;
  std::printf(
      "sidelight  latency, send -> upstream, %d requests one at a time, batch timeout 200 ms: "
      "p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
      o.latency_requests, ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back());
}

// NDJSON: one connection writing lines as fast as it can; log records delivered per CPU-second.
bool ndjson(const std::string& path, pid_t pid, sink& up, const options& o) {
  std::string line =
      R"({"timestamp":"2024-03-15T10:23:45.123Z","level":"error","service":"order-service",)"
      R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",)"
      R"("message":"Failed to process order","order_id":"12345","duration_ms":234})"
      "\n";
  std::string block;
  for (int i = 0; i < 1000; ++i)
    block += line;
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
  auto before = up.now().logs;
  auto u0 = usage_of(pid);
  auto t0 = clock_type::now();
  for (long sent = 0; sent < o.ndjson_lines; sent += 1000) {
    std::size_t off = 0;
    while (off < block.size()) {
      auto n = ::write(fd, block.data() + off, block.size() - off);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  auto want = before + static_cast<std::uint64_t>(o.ndjson_lines);
  if (!up.wait([&](const delivered& d) { return d.logs >= want; }, 120s))
    fail("NDJSON: the sink got " + std::to_string(up.now().logs - before) + " of " +
         std::to_string(o.ndjson_lines) + " log records, nothing more for 120 s");
  auto got = up.now().logs - before;
  auto u1 = usage_of(pid);
  double secs = std::chrono::duration<double>(up.now().last - t0).count();
  double cpu = u1.cpu_seconds - u0.cpu_seconds;
  std::printf(
      "sidelight  NDJSON %ld lines of %zu bytes: %8.0f delivered lines/CPU-s (%.2f CPU-s, %.0f "
      "lines/s wall, delivered %llu)\n",
      o.ndjson_lines, line.size(), double(got) / cpu, cpu, double(got) / secs,
      static_cast<unsigned long long>(got));
  return true;
}

// sidelight as the middle agent: throughput, latency, NDJSON.
bool run_sidelight(const options& o, sink& s, const fs::path& dir,
                   const std::vector<std::string>& requests) {
  auto up = upstream_for(o, s, dir);
  auto sock = (dir / "otlp.sock").string();
  int admin = free_tcp_port();
  std::ofstream(dir / "sidelight.yaml")
      << "heartbeat: { interval: 60s }\nadmin: { listen: '127.0.0.1:" << admin << "' }\n"
      << "log: { level: warn }\n"
      << "intake:\n  otlp_grpc: { unix: " << sock << ", max_message_size: 64MiB }\n"
      << "  ndjson: { unix: " << (dir / "ndjson.sock").string() << " }\n"
      << "batch: { max_items: 8192, timeout: 200ms }\n"
      << "exporters:\n  otlp: { endpoint: 'http://127.0.0.1:"
      << (o.http ? up.http_port : up.grpc_port) << "', compression: " << (o.gzip ? "gzip" : "none")
      << (o.http ? ", protocol: http/protobuf" : "")
      << (o.spool ? ", spool: { dir: " + (dir / "spool").string() +
                        (o.spool_fsync ? ", fsync: true" : "") + " }"
                  : std::string())
      << " }\n";
  auto log = (dir / "sidelight.log").string();
  process p({agent_binary(), "run", "--config", (dir / "sidelight.yaml").string()}, log);
  if (!wait_socket(sock, p, "sidelight", log)) return false;
  print("sidelight", throughput("sidelight", p.pid(), sock, s, requests, o, admin), o);
  latency(sock, s, requests, o);
  if (o.ndjson_lines > 0 && !ndjson((dir / "ndjson.sock").string(), p.pid(), s, o)) return false;
  return true;
}

// The same intake with nothing upstream: every queue fills and drops its oldest. Nothing can be
// delivered, so this one counts the spans intake accepted.
bool run_upstream_down(const options& o, const fs::path& dir,
                       const std::vector<std::string>& requests) {
  auto sock = (dir / "down.sock").string();
  std::ofstream(dir / "down.yaml")
      << "heartbeat: { interval: 60s }\nadmin: { listen: '' }\nlog: { level: error }\n"
      << "intake:\n  otlp_grpc: { unix: " << sock << ", max_message_size: 64MiB }\n"
      << "queue: { max_bytes: 64MiB }\n"
      << "exporters:\n  otlp: { endpoint: 'http://127.0.0.1:1', compression: none }\n";
  auto log = (dir / "down.log").string();
  process p({agent_binary(), "run", "--config", (dir / "down.yaml").string()}, log);
  if (!wait_socket(sock, p, "sidelight", log)) return false;
  auto idle = usage_of(p.pid());
  auto channel = channel_to("unix:" + sock, o.gzip);
  send(channel, plan_for(requests, o.spans, 50, o.in_flight));
  auto u0 = usage_of(p.pid());
  auto t0 = clock_type::now();
  auto r = send(channel, plan_for(requests, o.spans, o.requests, o.in_flight));
  auto u1 = usage_of(p.pid());
  auto spans = static_cast<double>(r.spans_accepted);
  double cpu = u1.cpu_seconds - u0.cpu_seconds;
  std::printf(
      "sidelight  upstream down, queue.max_bytes 64 MiB, %d requests x %d spans: %8.0f accepted "
      "spans/CPU-s (%.2f CPU-s, %.0f spans/s wall, RSS %.1f MiB, peak %.1f MiB; %.1f MiB "
      "before any request; calls refused %s)\n",
      o.requests, o.spans, spans / cpu, cpu,
      spans / std::chrono::duration<double>(clock_type::now() - t0).count(),
      double(u1.rss_kib) / 1024, double(u1.hwm_kib) / 1024, double(idle.rss_kib) / 1024,
      r.refused_text().c_str());
  return true;
}

// The Collector as the middle agent doing the same job: batch 8192 / 200 ms like sidelight.
bool run_collector(const options& o, sink& s, const fs::path& dir,
                   const std::vector<std::string>& requests) {
  auto up = upstream_for(o, s, dir);
  auto sock = (dir / "otelcol.sock").string();
  std::ofstream(dir / "otelcol.yaml")
      << "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: " << sock
      << "\n        transport: unix\n        max_recv_msg_size_mib: 64\n"
      << "processors:\n  batch: { send_batch_size: 8192, timeout: 200ms }\n"
      << (o.http ? "exporters:\n  otlphttp:\n    endpoint: http://127.0.0.1:" +
                       std::to_string(up.http_port)
                 : "exporters:\n  otlp:\n    endpoint: 127.0.0.1:" + std::to_string(up.grpc_port) +
                       "\n    tls: { insecure: true }")
      << "\n    compression: " << (o.gzip ? "gzip" : "none") << "\n"
      << "service:\n  telemetry: { metrics: { level: none } }\n"
      << "  pipelines:\n    traces: { receivers: [otlp], processors: [batch], exporters: ["
      << (o.http ? "otlphttp" : "otlp") << "] }\n";
  auto log = (dir / "otelcol.log").string();
  process p({o.collector, "--config", (dir / "otelcol.yaml").string()}, log);
  if (!wait_socket(sock, p, "the Collector", log)) return false;
  print("collector", throughput("collector", p.pid(), sock, s, requests, o, 0), o);
  return true;
}

const char* kUsage =
    "usage: sidelight_intake_bench [--requests N] [--spans N] [--in-flight N] [--gzip] "
    "[--collector PATH] [--upstream sink|collector] [--latency-requests N] [--ndjson-lines N] "
    "[--upstream-down] [--spool] [--spool-fsync] [--http] [--burst [--kill-upstream] [--runs N]]\n";

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&] { return std::string(i + 1 < argc ? argv[++i] : "0"); };
    if (a == "--requests")
      o.requests = std::stoi(value());
    else if (a == "--spans")
      o.spans = std::stoi(value());
    else if (a == "--in-flight")
      o.in_flight = std::stoi(value());
    else if (a == "--gzip")
      o.gzip = true;
    else if (a == "--collector")
      o.collector = value();
    else if (a == "--upstream")
      o.upstream_collector = value() == "collector";
    else if (a == "--latency-requests")
      o.latency_requests = std::stoi(value());
    else if (a == "--ndjson-lines")
      o.ndjson_lines = std::stol(value());
    else if (a == "--upstream-down")
      o.upstream_down = true;
    else if (a == "--spool")
      o.spool = true;
    else if (a == "--http")
      o.http = true;
    else if (a == "--spool-fsync")
      o.spool = o.spool_fsync = true;
    else if (a == "--burst")
      o.burst = true;
    else if (a == "--kill-upstream")
      o.burst = o.kill_upstream = true;
    else if (a == "--runs")
      o.runs = std::stoi(value());
    else
      return false;
  }
  return true;
}

bool valid(const options& o) {
  if (o.http && o.gzip) {
    std::cerr << "--http with --gzip: the bench's HTTP sink does not inflate\n";
    return false;
  }
  if ((o.upstream_collector || o.burst) && o.collector.empty()) {
    std::cerr << "--upstream collector and --burst need --collector PATH\n";
    return false;
  }
  if (o.upstream_collector && o.http) {
    std::cerr << "--upstream collector takes OTLP/gRPC only\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  options o;
  if (!parse(argc, argv, o)) {
    std::cerr << kUsage;
    return 2;
  }
  if (!valid(o)) return 2;
  auto dir = fs::temp_directory_path() / ("sidelight-bench." + std::to_string(::getpid()));
  fs::create_directories(dir);
  sink s;
  if (o.burst) {
    run_burst(
        {o.requests, o.spans, o.in_flight, o.runs, o.kill_upstream, o.collector, agent_binary()}, s,
        dir);
  } else {
    std::vector<std::string> requests;
    for (int i = 0; i < 16; ++i)
      requests.push_back(make_request(o.spans, i));
    std::printf("request: %d spans, %zu bytes (%.0f bytes a span)\n", o.spans, requests[0].size(),
                double(requests[0].size()) / o.spans);
    bool ok = run_sidelight(o, s, dir, requests) &&
              (!o.upstream_down || run_upstream_down(o, dir, requests)) &&
              (o.collector.empty() || run_collector(o, s, dir, requests));
    if (!ok)
      fail("an agent did not start or a client could not connect; logs are in " + dir.string());
  }
  if (failures() > 0) {
    std::cerr << failures() << " check(s) failed; logs are in " << dir << "\n";
    return 1;
  }
  fs::remove_all(dir);
  return 0;
}
