// Intake throughput and latency, end to end, side by side with the OpenTelemetry Collector doing
// the same job on the same machine in the same run.
//
//   sidelight_intake_bench [--requests N] [--spans 512] [--in-flight 8] [--gzip]
//                          [--collector PATH] [--latency-requests N] [--ndjson-lines N]
//                          [--upstream-down] [--spool] [--spool-fsync] [--http]
//
// A client in this program sends N pre-serialized ExportTraceServiceRequests of 512 spans
// (about 374 bytes a span, a typical instrumented HTTP server span) over OTLP/gRPC on a Unix
// socket, several in flight; the agent forwards them over OTLP/gRPC to a sink in this program that
// counts spans. Reported: spans per CPU-second of the agent (its utime + stime from /proc, nothing
// else), wall throughput and peak RSS. Then, one request at a time, the latency from sending to the
// sink's receipt, against the configured batch timeout. Then NDJSON: log lines per CPU-second.
#include <fcntl.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "intake/otlp_wire.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "process_usage.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
namespace otlp = opentelemetry::proto;

namespace {

using sidelight::bench::usage_of;

// The agent under test: this build's, or $SIDELIGHT_TEST_BINARY (another build, measured in the
// same session for a before-and-after comparison).
std::string agent_binary() {
  const char* other = std::getenv("SIDELIGHT_TEST_BINARY");
  return other != nullptr && *other != '\0' ? other : SIDELIGHT_BINARY;
}

// The upstream: accepts every Export call and counts the items in it.
class sink {
 public:
  sink() {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterAsyncGenericService(&service_);
    b.SetMaxReceiveMessageSize(256 << 20);
    cq_ = b.AddCompletionQueue();
    server_ = b.BuildAndStart();
    for (int i = 0; i < 16; ++i)
      new call(*this);
    thread_ = std::thread([this] {
      void* tag = nullptr;
      bool ok = false;
      while (cq_->Next(&tag, &ok))
        static_cast<call*>(tag)->proceed(ok);
    });
    // OTLP/HTTP on another port: a thread per connection, answering 200 with an empty body.
    acceptor_.open(boost::asio::ip::tcp::v4());
    acceptor_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    http_thread_ = std::thread([this] {
      for (;;) {
        boost::asio::ip::tcp::socket socket(io_);
        boost::system::error_code ec;
        acceptor_.accept(socket, ec);
        if (ec) return;
        std::thread([this, s = std::move(socket)]() mutable { serve_http(s); }).detach();
      }
    });
  }
  ~sink() {
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    cq_->Shutdown();
    thread_.join();
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    http_thread_.join();
  }
  int port() const { return port_; }
  int http_port() const { return acceptor_.local_endpoint().port(); }
  std::uint64_t items() const { return items_.load(); }
  bool wait_items(std::uint64_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return items_.load() >= n; });
  }

 private:
  struct call {
    explicit call(sink& s) : owner(s), stream(&ctx) {
      owner.service_.RequestCall(&ctx, &stream, owner.cq_.get(), owner.cq_.get(), this);
    }
    void proceed(bool ok) {
      if (!ok || step == 2) {
        delete this;
        return;
      }
      if (step == 0) {
        new call(owner);
        step = 1;
        stream.Read(&request, this);
        return;
      }
      std::vector<grpc::Slice> slices;
      request.Dump(&slices);
      std::string bytes;
      for (auto& s : slices)
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      owner.count(ctx.method(), bytes);
      grpc::Slice empty;
      grpc::ByteBuffer response(&empty, 1);
      step = 2;
      stream.WriteAndFinish(response, grpc::WriteOptions(), grpc::Status::OK, this);
    }
    sink& owner;
    grpc::GenericServerContext ctx;
    grpc::GenericServerAsyncReaderWriter stream;
    grpc::ByteBuffer request;
    int step = 0;
  };

  void count(const std::string& path, const std::string& bytes) {
    auto sig = path.find("logs") != std::string::npos ? sidelight::codec::signal::logs
                                                      : sidelight::codec::signal::traces;
    std::uint64_t n = 0;
    (void)sidelight::intake::validate_request(sig, bytes, n);
    {
      std::lock_guard lock(mutex_);
      items_ += n;
    }
    changed_.notify_all();
  }

  void serve_http(boost::asio::ip::tcp::socket& socket) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(256 << 20);
      boost::system::error_code ec;
      http::read(socket, buffer, parser, ec);
      if (ec) return;
      auto req = parser.release();
      count(std::string(req.target()), req.body());
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "application/x-protobuf");
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  int port_ = 0;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::thread http_thread_;
  grpc::AsyncGenericService service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::thread thread_;
  std::atomic<std::uint64_t> items_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
};

std::string make_request(int spans, int seed) {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("bench-client");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("bench");
  for (int i = 0; i < spans; ++i) {
    auto* s = ss->add_spans();
    s->set_name("GET /api/v1/orders/{id}");
    std::string tid(16, '\0');
    for (int b = 0; b < 16; ++b)
      tid[b] = static_cast<char>((seed * 131 + i * 7 + b) & 0xff);
    s->set_trace_id(tid);
    s->set_span_id(tid.substr(0, 8));
    s->set_parent_span_id(tid.substr(8, 8));
    s->set_kind(otlp::trace::v1::Span::SPAN_KIND_SERVER);
    s->set_start_time_unix_nano(1700000000000000000ull + static_cast<std::uint64_t>(i));
    s->set_end_time_unix_nano(1700000000001000000ull + static_cast<std::uint64_t>(i));
    for (auto [k, v] : {std::pair{"http.request.method", "GET"},
                        {"url.path", "/api/v1/orders/12345"},
                        {"http.route", "/api/v1/orders/{id}"},
                        {"server.address", "orders.internal.example.com"},
                        {"user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"}}) {
      auto* a = s->add_attributes();
      a->set_key(k);
      a->mutable_value()->set_string_value(v);
    }
    auto* code = s->add_attributes();
    code->set_key("http.response.status_code");
    code->mutable_value()->set_int_value(200);
    s->mutable_status()->set_code(otlp::trace::v1::Status::STATUS_CODE_OK);
  }
  return req.SerializeAsString();
}

std::shared_ptr<grpc::Channel> channel_to(const std::string& target, bool gzip) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  if (gzip) args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// Sends `total` requests over `channel`, `in_flight` at a time, on a completion queue.
void blast(const std::shared_ptr<grpc::Channel>& channel, const std::vector<std::string>& requests,
           int total, int in_flight) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  struct pending {
    grpc::ClientContext ctx;
    grpc::ByteBuffer response;
    grpc::Status status;
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> rpc;
  };
  int sent = 0;
  int done = 0;
  int failed = 0;
  auto issue = [&] {
    auto* p = new pending;
    const auto& bytes = requests[static_cast<std::size_t>(sent++) % requests.size()];
    grpc::Slice slice(bytes.data(), bytes.size());
    grpc::ByteBuffer request(&slice, 1);
    p->ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    p->rpc = stub.PrepareUnaryCall(
        &p->ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", request, &cq);
    p->rpc->StartCall();
    p->rpc->Finish(&p->response, &p->status, p);
  };
  while (sent < total && sent < in_flight)
    issue();
  while (done < total) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok)) break;
    auto* p = static_cast<pending*>(tag);
    if (!ok || !p->status.ok()) ++failed;
    delete p;
    ++done;
    if (sent < total) issue();
  }
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  if (failed) std::cerr << "  (" << failed << " requests failed)\n";
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> a;
    for (const auto& s : argv)
      a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  return pid;
}

void stop(pid_t pid) {
  ::kill(pid, SIGTERM);
  int st = 0;
  ::waitpid(pid, &st, 0);
}

bool wait_socket(const std::string& path, pid_t pid) {
  for (int i = 0; i < 600; ++i) {
    if (std::filesystem::exists(path)) return true;
    if (::waitpid(pid, nullptr, WNOHANG) != 0) return false;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

struct options {
  int requests = 2000;
  int spans = 512;
  int in_flight = 8;
  bool gzip = false;
  std::string collector;
  int latency_requests = 200;
  long ndjson_lines = 2000000;
  bool upstream_down = false;
  bool http = false;   // export over OTLP/HTTP instead of OTLP/gRPC (sidelight and the Collector)
  bool spool = false;  // the exporter with an on-disk spool (in the temp directory)
  bool spool_fsync = false;
};

struct result {
  double spans_per_cpu_s = 0;
  double spans_per_s = 0;
  double cpu_s = 0;
  long hwm_kib = 0;
};

result throughput(const std::string& who, pid_t pid, const std::string& socket, sink& up,
                  const std::vector<std::string>& requests, const options& o) {
  // Warm up: connections, buffers, the Collector's JIT-free but lazily grown pools.
  auto channel = channel_to("unix:" + socket, o.gzip);
  auto before_items = up.items();
  blast(channel, requests, 50, o.in_flight);
  up.wait_items(before_items + 50ull * static_cast<unsigned>(o.spans), 60s);
  before_items = up.items();
  auto u0 = usage_of(pid);
  auto t0 = clock_type::now();
  blast(channel, requests, o.requests, o.in_flight);
  std::uint64_t want =
      before_items + static_cast<std::uint64_t>(o.requests) * static_cast<std::uint64_t>(o.spans);
  if (!up.wait_items(want, 120s)) {
    std::cerr << who << ": the sink got " << up.items() - before_items << " of "
              << want - before_items << " spans\n";
  }
  auto t1 = clock_type::now();
  auto u1 = usage_of(pid);
  result r;
  double spans = double(o.requests) * o.spans;
  r.cpu_s = u1.cpu_seconds - u0.cpu_seconds;
  r.spans_per_cpu_s = spans / r.cpu_s;
  r.spans_per_s = spans / std::chrono::duration<double>(t1 - t0).count();
  r.hwm_kib = u1.hwm_kib;
  return r;
}

// What the run does beyond the plain case, for its line: " gzip, OTLP/HTTP out, spool".
std::string how(const std::string& who, const options& o) {
  std::string out = o.gzip ? " gzip" : "";
  if (o.http) out += ", OTLP/HTTP out";
  if (who == "sidelight" && o.spool) out += o.spool_fsync ? ", spool+fsync" : ", spool";
  return out;
}

void print(const std::string& who, const result& r, const options& o) {
  std::printf(
      "%-10s %7d requests x %d spans%s: %8.0f spans/CPU-s  (%6.2f CPU-s, %8.0f spans/s wall, peak "
      "RSS %.1f MiB)\n",
      who.c_str(), o.requests, o.spans, how(who, o).c_str(), r.spans_per_cpu_s, r.cpu_s,
      r.spans_per_s, double(r.hwm_kib) / 1024);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  options o;
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
    else {
      std::cerr << "usage: sidelight_intake_bench [--requests N] [--spans N] [--in-flight N] "
                   "[--gzip] [--collector PATH] [--latency-requests N] [--ndjson-lines N] "
                   "[--upstream-down] [--spool] [--spool-fsync] [--http]\n";
      return 2;
    }
  }
  if (o.http && o.gzip) {
    std::cerr << "--http with --gzip: the bench's HTTP sink does not inflate\n";
    return 2;
  }
  std::vector<std::string> requests;
  for (int i = 0; i < 16; ++i)
    requests.push_back(make_request(o.spans, i));
  std::printf("request: %d spans, %zu bytes (%.0f bytes a span)\n", o.spans, requests[0].size(),
              double(requests[0].size()) / o.spans);

  auto dir =
      std::filesystem::temp_directory_path() / ("sidelight-bench." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  sink up;
  std::string codec = o.gzip ? "gzip" : "none";

  {
    auto sock = (dir / "otlp.sock").string();
    std::ofstream(dir / "sidelight.yaml")
        << "heartbeat: { interval: 60s }\nadmin: { listen: '' }\nlog: { level: warn }\n"
        << "intake:\n  otlp_grpc: { unix: " << sock << ", max_message_size: 64MiB }\n"
        << "  ndjson: { unix: " << (dir / "ndjson.sock").string() << " }\n"
        << "batch: { max_items: 8192, timeout: 200ms }\n"
        << "exporters:\n  otlp: { endpoint: 'http://127.0.0.1:"
        << (o.http ? up.http_port() : up.port()) << "', compression: " << codec
        << (o.http ? ", protocol: http/protobuf" : "")
        << (o.spool ? ", spool: { dir: " + (dir / "spool").string() +
                          (o.spool_fsync ? ", fsync: true" : "") + " }"
                    : std::string())
        << " }\n";
    pid_t pid = spawn({agent_binary(), "run", "--config", (dir / "sidelight.yaml").string()},
                      (dir / "sidelight.log").string());
    if (!wait_socket(sock, pid)) {
      std::cerr << "sidelight did not start; see " << (dir / "sidelight.log") << "\n";
      return 1;
    }
    print("sidelight", throughput("sidelight", pid, sock, up, requests, o), o);

    // Latency: one request at a time, send -> received by the sink.
    std::vector<double> ms;
    auto channel = channel_to("unix:" + sock, o.gzip);
    for (int i = 0; i < o.latency_requests; ++i) {
      auto before = up.items();
      auto t0 = clock_type::now();
      blast(channel, {requests[static_cast<std::size_t>(i) % requests.size()]}, 1, 1);
      up.wait_items(before + static_cast<unsigned>(o.spans), 10s);
      ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    if (!ms.empty()) {
      std::printf(
          "sidelight  latency, send -> upstream, %d requests one at a time, batch timeout 200 ms: "
          "p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
          o.latency_requests, ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back());
    }

    // NDJSON: one connection writing lines as fast as it can.
    if (o.ndjson_lines > 0) {
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
      std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", (dir / "ndjson.sock").c_str());
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 1;
      auto before = up.items();
      auto u0 = usage_of(pid);
      auto t0 = clock_type::now();
      for (long sent = 0; sent < o.ndjson_lines; sent += 1000) {
        std::size_t off = 0;
        while (off < block.size()) {
          auto n = ::write(fd, block.data() + off, block.size() - off);
          if (n <= 0) return 1;
          off += static_cast<std::size_t>(n);
        }
      }
      ::close(fd);
      up.wait_items(before + static_cast<std::uint64_t>(o.ndjson_lines), 120s);
      auto u1 = usage_of(pid);
      double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
      double cpu = u1.cpu_seconds - u0.cpu_seconds;
      std::printf(
          "sidelight  NDJSON %ld lines of %zu bytes: %8.0f lines/CPU-s (%.2f CPU-s, %.0f lines/s "
          "wall, received %llu)\n",
          o.ndjson_lines, line.size(), double(o.ndjson_lines) / cpu, cpu,
          double(o.ndjson_lines) / secs, static_cast<unsigned long long>(up.items() - before));
    }
    stop(pid);
  }

  if (o.upstream_down) {
    // The same intake with nothing upstream: every queue fills and drops its oldest.
    auto sock = (dir / "down.sock").string();
    std::ofstream(dir / "down.yaml")
        << "heartbeat: { interval: 60s }\nadmin: { listen: '' }\nlog: { level: error }\n"
        << "intake:\n  otlp_grpc: { unix: " << sock << ", max_message_size: 64MiB }\n"
        << "queue: { max_bytes: 64MiB }\n"
        << "exporters:\n  otlp: { endpoint: 'http://127.0.0.1:1', compression: none }\n";
    pid_t pid = spawn({agent_binary(), "run", "--config", (dir / "down.yaml").string()},
                      (dir / "down.log").string());
    if (!wait_socket(sock, pid)) return 1;
    auto idle = usage_of(pid);
    auto channel = channel_to("unix:" + sock, o.gzip);
    blast(channel, requests, 50, o.in_flight);
    auto u0 = usage_of(pid);
    auto t0 = clock_type::now();
    blast(channel, requests, o.requests, o.in_flight);
    auto u1 = usage_of(pid);
    double spans = double(o.requests) * o.spans;
    double cpu = u1.cpu_seconds - u0.cpu_seconds;
    std::printf(
        "sidelight  upstream down, queue.max_bytes 64 MiB, %d requests x %d spans: %8.0f "
        "spans/CPU-s (%.2f CPU-s, %.0f spans/s wall, RSS %.1f MiB, peak %.1f MiB; %.1f MiB "
        "before any request)\n",
        o.requests, o.spans, spans / cpu, cpu,
        spans / std::chrono::duration<double>(clock_type::now() - t0).count(),
        double(u1.rss_kib) / 1024, double(u1.hwm_kib) / 1024, double(idle.rss_kib) / 1024);
    stop(pid);
  }

  if (!o.collector.empty()) {
    auto sock = (dir / "otelcol.sock").string();
    std::ofstream(dir / "otelcol.yaml")
        << "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: " << sock
        << "\n        transport: unix\n        max_recv_msg_size_mib: 64\n"
        << "processors:\n  batch: { send_batch_size: 8192, timeout: 200ms }\n"
        << (o.http ? "exporters:\n  otlphttp:\n    endpoint: http://127.0.0.1:" +
                         std::to_string(up.http_port())
                   : "exporters:\n  otlp:\n    endpoint: 127.0.0.1:" + std::to_string(up.port()) +
                         "\n    tls: { insecure: true }")
        << "\n    compression: " << codec << "\n"
        << "service:\n  telemetry: { metrics: { level: none } }\n"
        << "  pipelines:\n    traces: { receivers: [otlp], processors: [batch], exporters: ["
        << (o.http ? "otlphttp" : "otlp") << "] }\n";
    pid_t pid = spawn({o.collector, "--config", (dir / "otelcol.yaml").string()},
                      (dir / "otelcol.log").string());
    if (!wait_socket(sock, pid)) {
      std::cerr << "the Collector did not start; see " << (dir / "otelcol.log") << "\n";
      return 1;
    }
    print("collector", throughput("collector", pid, sock, up, requests, o), o);
    stop(pid);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
