// An OTLP/gRPC MetricsService inside the test process: it records every data point it receives,
// flattened with its Resource, and lets a test await the one it expects, with a bound.
// It can be stopped and started again on the same port to play an upstream outage.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sidelight::test {

struct point {
  std::map<std::string, std::string> resource;  // every attribute rendered as text
  std::string metric;
  std::string unit;
  std::string type;  // gauge | sum
  bool monotonic = false;
  double value = 0;
  std::map<std::string, std::string> attributes;
  std::uint64_t time_unix_nano = 0;
  std::chrono::steady_clock::time_point received;

  const std::string& service() const { return resource.at("service.name"); }
  std::string describe() const;
};

using point_filter = std::function<bool(const point&)>;

// A span or a log record as received, with its Resource.
struct telemetry_record {
  std::map<std::string, std::string> resource;
  std::string name;                                    // span name, or log body
  std::string trace_id;                                // raw bytes
  std::map<std::string, std::string> attributes = {};  // log records only, from here on
  std::string event_name = {};
  int severity_number = 0;
  std::string schema_url = {};  // of the ResourceLogs
};

class otlp_receiver {
 public:
  otlp_receiver();  // listens on 127.0.0.1, on a free port
  ~otlp_receiver();

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const { return static_cast<std::uint16_t>(port_); }
  void stop();   // refuse connections: the upstream is gone
  void start();  // listen again on the same port
  // Answer every trace and log export with `code` (OK again to accept), counting what it refused.
  void fail_with(grpc::StatusCode code);
  // Answer every trace export only after `delay` (0 again: at once): a healthy but slow upstream.
  void answer_after(std::chrono::milliseconds delay);
  // Answer every export (metrics, traces and logs alike) with `status` until called with nullopt;
  // the requests are counted, their content is not recorded.
  void answer_all_with(std::optional<grpc::Status> status);
  // What answer_all_with() answered so far.
  std::size_t overridden() const;
  std::size_t refused_spans() const;

  // The first point received (ever) that matches; or nullopt after `timeout`.
  std::optional<point> wait_for(const point_filter& f, std::chrono::milliseconds timeout) const;
  // The first point received after `since` that matches.
  std::optional<point> wait_for_after(std::chrono::steady_clock::time_point since,
                                      const point_filter& f,
                                      std::chrono::milliseconds timeout) const;
  std::vector<point> points() const;
  // Waits until `count` spans (log records) in all have arrived; false after `timeout`.
  bool wait_spans(std::size_t count, std::chrono::milliseconds timeout) const;
  bool wait_logs(std::size_t count, std::chrono::milliseconds timeout) const;
  // The first log record (ever) that matches; or nullopt after `timeout`.
  std::optional<telemetry_record> wait_for_log(
      const std::function<bool(const telemetry_record&)>& f,
      std::chrono::milliseconds timeout) const;
  std::vector<telemetry_record> spans() const;
  std::vector<telemetry_record> logs() const;
  std::size_t requests() const;
  // The gRPC metadata (headers) of the last request, e.g. "authorization", "grpc-encoding".
  std::multimap<std::string, std::string> last_metadata() const;
  // Every point of a service, for a failure message.
  std::string dump(const std::string& service) const;

  void record(std::vector<point> batch, std::multimap<std::string, std::string> metadata);
  // False (and counted as refused) while the receiver is told to fail.
  grpc::Status record_spans(std::vector<telemetry_record> batch);
  void record_logs(std::vector<telemetry_record> batch);
  // The answer_all_with() status in force, counted; nullopt when the request is to be taken.
  std::optional<grpc::Status> override_answer();

 private:
  class service;
  class trace_service;
  class logs_service;
  std::unique_ptr<service> service_;
  std::unique_ptr<trace_service> trace_service_;
  std::unique_ptr<logs_service> logs_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<point> points_;
  std::vector<telemetry_record> spans_;
  grpc::StatusCode fail_with_ = grpc::StatusCode::OK;
  std::size_t refused_spans_ = 0;
  std::chrono::milliseconds answer_after_{0};
  std::optional<grpc::Status> override_;
  std::size_t overridden_ = 0;
  std::vector<telemetry_record> logs_;
  std::size_t requests_ = 0;
  std::multimap<std::string, std::string> metadata_;
};

// Filters, composed with &&-like helpers below.
point_filter metric_of(std::string service, std::string metric);
// An instance's heartbeat (its Resource has service.instance.id).
point_filter heartbeat_of(std::string service, int value);
// The target-level series: a Resource without service.instance.id.
point_filter target_metric_of(std::string service, std::string metric);
point_filter target_heartbeat_of(std::string service, int value);

}  // namespace sidelight::test
