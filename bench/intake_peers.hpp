// The intake bench's peers: the sink that counts what is delivered, a client that behaves like an
// OpenTelemetry SDK under pushback, the processes it runs (sidelight, Collectors) and sidelight's
// own books read from its /metrics. A figure is only worth what the bench can check about it, so
// the sink counts only spans and log records delivered (never the agent's own telemetry), the
// client retries what a real SDK retries and counts every refusal, and the books must explain any
// span that was accepted and not delivered.
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sidelight::bench {

using clock_type = std::chrono::steady_clock;

// Every check that fails says so on stderr and is counted; the bench exits 1 if any did.
void fail(const std::string& what);
int failures();

// What the sink has received so far.
struct delivered {
  std::uint64_t spans = 0;        // TraceService/Export, /v1/traces
  std::uint64_t logs = 0;         // LogsService/Export, /v1/logs
  std::uint64_t marked = 0;       // spans whose Resource carries the marker (see sink::mark)
  std::uint64_t late = 0;         // spans whose Resource carries the late marker
  std::uint64_t invalid = 0;      // requests that were not valid OTLP
  clock_type::time_point last{};  // when the last span or log record arrived
};

// The upstream: accepts every Export call (OTLP/gRPC and OTLP/HTTP) and counts spans and log
// records. Metrics requests (the agent's own telemetry, heartbeats) are answered and not counted.
class sink {
 public:
  sink();
  ~sink();
  int port() const { return port_; }
  int http_port() const { return acceptor_.local_endpoint().port(); }
  delivered now() const;
  // From now on, spans whose Resource holds `marker` (an attribute value) are also counted as
  // `marked`; this decodes each traces request, so it is off unless a scenario needs it.
  void mark(const std::string& marker, const std::string& late_marker = "");
  // Waits until `done` holds; gives up (false) once nothing new arrived for `quiet`. `done` is
  // asked again at least every 100 ms, so it may read other books than the sink's.
  bool wait(const std::function<bool(const delivered&)>& done, std::chrono::milliseconds quiet);

 private:
  struct call;
  void count(const std::string& path, const std::string& bytes);
  void serve_http(boost::asio::ip::tcp::socket& socket);

  int port_ = 0;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::thread http_thread_;
  grpc::AsyncGenericService service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  delivered counts_;
  std::string marker_;
  std::string late_marker_;
};

// How the client sends: `total` requests, `in_flight` at a time, each retried as an SDK would.
struct client_plan {
  const std::vector<std::string>* requests = nullptr;  // taken in turn
  int spans = 0;                                       // spans in each request
  int total = 0;
  int in_flight = 8;
  // Requests first sent while `mark_now` is true are taken from `marked` instead (in turn).
  const std::vector<std::string>* marked = nullptr;
  const std::atomic<bool>* mark_now = nullptr;
  // Called on the client's thread each time a request is answered OK (with the count so far).
  std::function<void(int)> on_answered;
  std::chrono::seconds give_up{120};  // a request still refused this long after it was first sent
};

client_plan plan_for(const std::vector<std::string>& requests, int spans, int total, int in_flight);

// What happened to the client's requests.
struct client_report {
  std::uint64_t spans_sent = 0;      // in the distinct requests (not counting retries)
  std::uint64_t spans_accepted = 0;  // answered OK, at the first try or a retry
  std::uint64_t marked_sent = 0;     // of spans_sent, in requests taken from `marked`
  std::uint64_t marked_accepted = 0;
  std::uint64_t given_up = 0;  // requests never accepted (refused for good, or past give_up)
  std::map<int, std::uint64_t> refused;  // calls refused, by gRPC status code
  std::uint64_t non_retryable = 0;       // of those, with a status no SDK retries
  std::uint64_t refusals() const;
  std::string refused_text() const;      // "8 (RESOURCE_EXHAUSTED 8)", or "0"
  void add(const client_report& other);  // a later phase of the same run
};

// A channel to `target` ("unix:/path" or "HOST:PORT").
std::shared_ptr<grpc::Channel> channel_to(const std::string& target, bool gzip);
// Sends as `plan` says over `channel`: RESOURCE_EXHAUSTED is retried after the RetryInfo delay in
// the trailer (a short backoff without one), UNAVAILABLE after a backoff; any other refusal is a
// failure of the run (counted as non_retryable and reported through fail()).
client_report send(const std::shared_ptr<grpc::Channel>& channel, const client_plan& plan);

// An ExportTraceServiceRequest of `spans` typical HTTP server spans; `phase`, when given, is the
// value of a `bench.phase` resource attribute.
std::string make_request(int spans, int seed, const std::string& phase = "");

// A process the bench started, its output in `log`; stopped (SIGTERM, then reaped) when
// destroyed, unless already killed.
class process {
 public:
  process(const std::vector<std::string>& argv, const std::string& log);
  process(const process&) = delete;
  process& operator=(const process&) = delete;
  ~process();
  pid_t pid() const { return pid_; }
  bool running();
  void kill();  // SIGKILL, reaped
  void stop();  // SIGTERM, reaped

 private:
  pid_t pid_ = -1;
};

int free_tcp_port();
// Until `path` exists (a Unix socket), or 127.0.0.1:`port` accepts a connection; false (with a
// message naming `who` and `log`) when the process exits or 30 s pass.
bool wait_socket(const std::string& path, process& p, const std::string& who,
                 const std::string& log);
bool wait_port(int port, process& p, const std::string& who, const std::string& log);

// A real Collector as the upstream on 127.0.0.1:port(): OTLP/gRPC in, no batch processor,
// OTLP/gRPC out to the sink with no sending queue and no retries, so that what reaches the sink
// is exactly what it accepted, and its slowness pushes back on whoever sends to it.
class upstream_collector {
 public:
  upstream_collector(const std::string& binary, const std::filesystem::path& dir, int sink_port);
  int port() const { return port_; }
  bool start();  // on the same port; false if it did not come up
  void kill();
  pid_t pid() const { return process_ ? process_->pid() : -1; }

 private:
  std::string binary_;
  std::string config_;
  std::string log_;
  int port_ = 0;
  std::unique_ptr<process> process_;
};

// sidelight's books for one exporter's traces lane, from its /metrics, and its intake counters.
struct books {
  double received = 0;
  double exported = 0;
  double queued = 0;                      // items in the queue now
  double in_flight = 0;                   // items being sent now
  double requests_ok = 0;                 // traces export requests that succeeded
  std::map<std::string, double> dropped;  // by reason
  double intake_items = 0;                // all intake protocols
  double throttled = 0;
  double rejected = 0;
  double dropped_total() const;
  std::string dropped_text() const;  // "0", or "1234 (queue_full 1234)"
};
// Reads http://127.0.0.1:`admin_port`/metrics; `ok` false when it could not.
books read_books(int admin_port, bool& ok);
// Counters as the difference `after` − `before`; gauges (queued, in flight) as in `after`.
books since(const books& after, const books& before);

// Until the sink has every span the client saw accepted since `d0`, less (with `admin_port`:
// sidelight) what its books say were dropped since `before`, with nothing left queued or in
// flight; false, with the numbers on stderr, once nothing arrived for `quiet`.
bool await_delivery(sink& s, const std::string& who, int admin_port, const delivered& d0,
                    const books& before, const client_report& r, std::chrono::seconds quiet);
// sidelight's books since `before`, checked through fail(): they balance, hold nothing, agree
// with what the client saw accepted, and explain every accepted span the sink did not get
// (`delivered`); with `only_queue_full`, a drop for any other reason fails too.
books check_books(int admin_port, const books& before, const client_report& r, double delivered,
                  bool only_queue_full);

// Prints min / median / max of `values` ("%.*f" with `digits`): "1.23 / 1.30 / 1.41".
std::string spread(std::vector<double> values, int digits);

}  // namespace sidelight::bench
