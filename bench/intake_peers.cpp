#include "intake_peers.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "intake/otlp_wire.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace sidelight::bench {

namespace otlp = opentelemetry::proto;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

namespace {

std::atomic<int> failed{0};

constexpr const char* kTraces = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
constexpr const char* kLogs = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

// Spans in `bytes` (an ExportTraceServiceRequest) whose Resource has an attribute valued
// `markers[0]`, and `markers[1]`.
std::array<std::uint64_t, 2> marked_spans(const std::string& bytes,
                                          const std::array<std::string, 2>& markers) {
  std::array<std::uint64_t, 2> n{};
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  if (!req.ParseFromString(bytes)) return n;
  for (const auto& rs : req.resource_spans()) {
    for (std::size_t m = 0; m < markers.size(); ++m) {
      const auto& attrs = rs.resource().attributes();
      if (markers[m].empty() || std::none_of(attrs.begin(), attrs.end(), [&](const auto& kv) {
            return kv.value().string_value() == markers[m];
          }))
        continue;
      for (const auto& ss : rs.scope_spans())
        n[m] += static_cast<std::uint64_t>(ss.spans_size());
    }
  }
  return n;
}

}  // namespace

void fail(const std::string& what) {
  ++failed;
  std::cerr << "FAIL: " << what << "\n";
}

int failures() {
  return failed.load();
}

// One Export call on the sink's completion queue: read the request, count, answer OK.
struct sink::call {
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
    (void)request.Dump(&slices);
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

sink::sink() {
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

sink::~sink() {
  server_->Shutdown(std::chrono::system_clock::now() + 1s);
  cq_->Shutdown();
  thread_.join();
  ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
  http_thread_.join();
}

delivered sink::now() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

void sink::mark(const std::string& marker, const std::string& late_marker) {
  std::lock_guard lock(mutex_);
  marker_ = marker;
  late_marker_ = late_marker;
}

bool sink::wait(const std::function<bool(const delivered&)>& done,
                std::chrono::milliseconds quiet) {
  std::unique_lock lock(mutex_);
  auto progress = clock_type::now();
  auto seen = counts_.spans + counts_.logs;
  for (;;) {
    auto c = counts_;
    lock.unlock();
    if (done(c)) return true;
    lock.lock();
    if (counts_.spans + counts_.logs != seen) {
      seen = counts_.spans + counts_.logs;
      progress = clock_type::now();
    } else if (clock_type::now() - progress > quiet) {
      return false;
    }
    changed_.wait_for(lock, 100ms);
  }
}

void sink::count(const std::string& path, const std::string& bytes) {
  bool traces = path == kTraces || path == "/v1/traces";
  bool logs = path == kLogs || path == "/v1/logs";
  if (!traces && !logs) return;  // metrics: the agent's own telemetry, not the subject
  std::uint64_t n = 0;
  auto error =
      intake::validate_request(traces ? codec::signal::traces : codec::signal::logs, bytes, n);
  std::array<std::string, 2> markers;
  {
    std::lock_guard lock(mutex_);
    markers = {marker_, late_marker_};
  }
  std::array<std::uint64_t, 2> marked{};
  if (traces && !markers[0].empty()) marked = marked_spans(bytes, markers);
  {
    std::lock_guard lock(mutex_);
    if (!error.empty()) ++counts_.invalid;
    (traces ? counts_.spans : counts_.logs) += n;
    counts_.marked += marked[0];
    counts_.late += marked[1];
    if (n > 0) counts_.last = clock_type::now();
  }
  changed_.notify_all();
}

void sink::serve_http(boost::asio::ip::tcp::socket& socket) {
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

// posix_spawn, not fork: gRPC's fork handlers may wait on locks its busy threads hold.
process::process(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> a;
  for (const auto& s : argv)
    a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  if (::posix_spawn(&pid_, a[0], &actions, nullptr, a.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
}

process::~process() {
  stop();
}

bool process::running() {
  return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0;
}

void process::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

// SIGTERM, then SIGKILL if it has not exited 30 s later (a Collector still retrying).
void process::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = clock_type::now() + 30s;
  while (::waitpid(pid_, nullptr, WNOHANG) == 0) {
    if (clock_type::now() > deadline) {
      std::cerr << "pid " << pid_ << " did not exit within 30 s of SIGTERM: killed\n";
      return kill();
    }
    std::this_thread::sleep_for(10ms);
  }
  pid_ = -1;
}

int free_tcp_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

namespace {

bool connects(int port) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  boost::system::error_code ec;
  s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
  return !ec;
}

bool wait_until(const std::function<bool()>& up, process& p, const std::string& who,
                const std::string& log) {
  auto deadline = clock_type::now() + 30s;
  while (clock_type::now() < deadline) {
    if (up()) return true;
    if (!p.running()) break;
    std::this_thread::sleep_for(20ms);
  }
  fail(who + " did not start listening within 30 s; see " + log);
  return false;
}

}  // namespace

bool wait_socket(const std::string& path, process& p, const std::string& who,
                 const std::string& log) {
  return wait_until([&] { return std::filesystem::exists(path); }, p, who, log);
}

bool wait_port(int port, process& p, const std::string& who, const std::string& log) {
  return wait_until([&] { return connects(port); }, p, who, log);
}

upstream_collector::upstream_collector(const std::string& binary, const std::filesystem::path& dir,
                                       int sink_port)
    : binary_(binary),
      config_((dir / "upstream.yaml").string()),
      log_((dir / "upstream.log").string()),
      port_(free_tcp_port()) {
  std::ofstream(config_)
      << "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:" << port_
      << "\n        max_recv_msg_size_mib: 64\n"
      << "exporters:\n  otlp:\n    endpoint: 127.0.0.1:" << sink_port
      << "\n    tls: { insecure: true }\n    compression: none\n"
      << "    sending_queue: { enabled: false }\n    retry_on_failure: { enabled: false }\n"
      << "service:\n  telemetry: { metrics: { level: none } }\n  pipelines:\n"
      << "    traces: { receivers: [otlp], exporters: [otlp] }\n"
      << "    metrics: { receivers: [otlp], exporters: [otlp] }\n"
      << "    logs: { receivers: [otlp], exporters: [otlp] }\n";
  start();
}

bool upstream_collector::start() {
  process_ =
      std::make_unique<process>(std::vector<std::string>{binary_, "--config", config_}, log_);
  return wait_port(port_, *process_, "the upstream Collector", log_);
}

void upstream_collector::kill() {
  if (process_) process_->kill();
}

namespace {

std::string http_get(int port, const std::string& target, bool& ok) {
  ok = false;
  try {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(s, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(s, buffer, res);
    ok = res.result() == http::status::ok;
    return res.body();
  } catch (const std::exception& e) {
    return e.what();
  }
}

// The value of the series named exactly `series` (name and labels as written), or 0.
double sample(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

double sum_of(const std::string& text, const std::string& prefix) {
  double n = 0;
  for (auto at = text.find("\n" + prefix); at != std::string::npos;
       at = text.find("\n" + prefix, at + 1)) {
    auto space = text.find(' ', at + 1);
    n += std::strtod(text.c_str() + space + 1, nullptr);
  }
  return n;
}

}  // namespace

books read_books(int admin_port, bool& ok) {
  auto text = "\n" + http_get(admin_port, "/metrics", ok);
  books b;
  if (!ok) return b;
  const std::string lane = R"(exporter="otlp",signal="traces")";
  auto items = [&](const std::string& outcome) {
    return sample(text, "sidelight_pipeline_items_total{" + lane + ",outcome=\"" + outcome + "\"}");
  };
  b.received = items("received");
  b.exported = items("exported");
  for (const char* reason : {"queue_full", "retry_exhausted", "shutdown", "rejected_by_upstream"}) {
    b.dropped[reason] = sample(text, "sidelight_pipeline_items_total{" + lane +
                                         R"(,outcome="dropped",reason=")" + reason + "\"}");
  }
  b.queued = sample(text, "sidelight_queue_items{" + lane + "}");
  b.in_flight = sample(text, "sidelight_pipeline_in_flight{" + lane + "}");
  b.requests_ok = sample(text, "sidelight_pipeline_requests_total{" + lane + R"(,outcome="ok"})");
  b.intake_items = sum_of(text, "sidelight_intake_items_total{");
  b.throttled = sum_of(text, "sidelight_intake_throttled_total{");
  b.rejected = sum_of(text, "sidelight_intake_rejected_total{");
  return b;
}

books since(const books& after, const books& before) {
  books d = after;
  d.received -= before.received;
  d.exported -= before.exported;
  d.requests_ok -= before.requests_ok;
  for (auto& [reason, n] : d.dropped)
    n -= before.dropped.count(reason) ? before.dropped.at(reason) : 0;
  d.intake_items -= before.intake_items;
  d.throttled -= before.throttled;
  d.rejected -= before.rejected;
  return d;
}

double books::dropped_total() const {
  double n = 0;
  for (const auto& [reason, count] : dropped)
    n += count;
  return n;
}

std::string books::dropped_text() const {
  std::ostringstream out;
  out << static_cast<std::uint64_t>(dropped_total());
  std::string reasons;
  for (const auto& [reason, count] : dropped) {
    if (count == 0) continue;
    reasons += (reasons.empty() ? "" : ", ") + reason + " " +
               std::to_string(static_cast<std::uint64_t>(count));
  }
  if (!reasons.empty()) out << " (" << reasons << ")";
  return out.str();
}

bool await_delivery(sink& s, const std::string& who, int admin_port, const delivered& d0,
                    const books& before, const client_report& r, std::chrono::seconds quiet) {
  auto accepted = static_cast<double>(r.spans_accepted);
  auto done = [&](const delivered& d) {
    auto got = static_cast<double>(d.spans - d0.spans);
    // Resent batches arrive twice: the marked spans are awaited too, so duplicates of others do
    // not end the wait early.
    if (d.marked - d0.marked < r.marked_accepted && admin_port == 0) return false;
    if (admin_port == 0) return got >= accepted;
    bool ok = false;
    auto b = since(read_books(admin_port, ok), before);
    return ok && b.queued + b.in_flight == 0 && got + b.dropped_total() >= accepted;
  };
  if (s.wait(done, quiet)) return true;
  auto d = s.now();
  std::fprintf(stderr,
               "%s: gave up waiting %lld s after the last span arrived: the sink has %llu of the "
               "%.0f spans the client saw accepted\n",
               who.c_str(), static_cast<long long>(quiet.count()),
               static_cast<unsigned long long>(d.spans - d0.spans), accepted);
  return false;
}

books check_books(int admin_port, const books& before, const client_report& r, double delivered,
                  bool only_queue_full) {
  bool ok = false;
  auto b = since(read_books(admin_port, ok), before);
  if (!ok) {
    fail("sidelight: could not read /metrics on port " + std::to_string(admin_port));
    return b;
  }
  auto accepted = static_cast<double>(r.spans_accepted);
  auto dropped = b.dropped_total();
  auto unexplained = accepted - delivered - dropped;
  char line[400];
  std::snprintf(line, sizeof line,
                "sidelight's books: the client saw %.0f spans accepted; intake items %.0f, lane "
                "received %.0f, exported %.0f, dropped %s, queued %.0f, in flight %.0f; the sink "
                "got %.0f",
                accepted, b.intake_items, b.received, b.exported, b.dropped_text().c_str(),
                b.queued, b.in_flight, delivered);
  if (unexplained > 0)
    fail(std::string(line) + ": " + std::to_string(static_cast<long long>(unexplained)) +
         " spans are unexplained");
  if (b.received != b.exported + dropped + b.queued + b.in_flight || b.queued + b.in_flight != 0)
    fail(std::string(line) + ": the books do not balance, or the queue did not drain");
  if (b.received != accepted || b.intake_items != accepted)
    fail(std::string(line) + ": intake counted other than what the client saw accepted");
  constexpr int kExhausted = grpc::StatusCode::RESOURCE_EXHAUSTED;
  auto exhausted = r.refused.count(kExhausted) ? static_cast<double>(r.refused.at(kExhausted)) : 0;
  if (exhausted != b.throttled + b.rejected) {
    auto n = [](double v) { return std::to_string(static_cast<long long>(v)); };
    fail(std::string(line) + ": the client had " + n(exhausted) +
         " calls refused with RESOURCE_EXHAUSTED, sidelight counted " + n(b.throttled) +
         " throttled and " + n(b.rejected) + " rejected");
  }
  if (only_queue_full && dropped != b.dropped.at("queue_full"))
    fail(std::string(line) + ": drops for reasons other than queue_full");
  return b;
}

std::string spread(std::vector<double> values, int digits) {
  if (values.empty()) return "-";
  std::sort(values.begin(), values.end());
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.*f / %.*f / %.*f", digits, values.front(), digits,
                values[values.size() / 2], digits, values.back());
  return buf;
}

}  // namespace sidelight::bench
