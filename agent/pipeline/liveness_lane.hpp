// The pipeline stage owns what happens between producing telemetry and exporting it: holding,
// batching, retrying and counting. The liveness lane carries heartbeats and state changes to one
// exporter. It keeps only the latest state per instance, and at most kMaxPendingBytes of them:
// when processes churn through an outage, the oldest states of instances already gone leave
// first, counted as dropped. When upstream is down it retries with exponential backoff and
// jitter; when upstream returns it sends the newest state of every instance, in requests no
// larger than batch.max_bytes.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "export/exporter.hpp"
#include "opentelemetry/proto/metrics/v1/metrics.pb.h"
#include "pipeline/retry_gate.hpp"
#include "stats/stats.hpp"

namespace sidelight::pipeline {

namespace asio = boost::asio;

struct lane_stats {
  std::uint64_t points_offered = 0;
  std::uint64_t points_exported = 0;
  std::uint64_t points_superseded = 0;  // replaced by a newer state before they could be sent
  std::uint64_t points_rejected = 0;    // refused for good by upstream (or partially)
  std::uint64_t points_dropped = 0;     // pending past kMaxPendingBytes, oldest gone instance first
  std::uint64_t requests_ok = 0;
  std::uint64_t requests_failed = 0;
  std::uint64_t retries = 0;
  std::string last_error;
  bool upstream_ok = true;
  bool refusing = false;  // the last request was refused for good: heartbeats do not arrive
  std::chrono::nanoseconds last_latency{0};

  // Adds another lane's counts (a predecessor's, replaced by a reload).
  void add(const lane_stats& o);
};

class liveness_lane : public std::enable_shared_from_this<liveness_lane> {
 public:
  // Encoded states held while they wait to be sent, at most: a few thousand instances' worth.
  static constexpr std::uint64_t kMaxPendingBytes = 8ull << 20;

  liveness_lane(asio::io_context& io, std::shared_ptr<exporting::exporter> exporter,
                const config::retry_settings& retry, std::uint64_t max_request_bytes);

  // The latest state of one instance; replaces any state of the same key not yet sent. `gone`:
  // the instance ended and will not be offered again.
  void offer(const std::string& key, opentelemetry::proto::metrics::v1::ResourceMetrics rm,
             bool gone = false);

  // Sends what is pending, retrying quickly, until nothing is left or `deadline` passes; then
  // calls `done` with the number of instance states that could not be sent.
  void flush(std::chrono::steady_clock::time_point deadline, std::function<void(std::size_t)> done);

  // Cancels timers and in-flight work; nothing more is sent.
  void stop();

  const lane_stats& stats() const { return stats_; }
  // Its numbers, as section "exporters" named by the exporter, with `endpoint` as a fact and
  // `carried` (what a lane it replaced counted) added.
  void visit(stats::sink& out, std::string_view endpoint, const lane_stats& carried = {}) const;
  const std::string& exporter_name() const { return exporter_->name(); }
  std::size_t pending() const { return pending_.size(); }

 private:
  struct entry {
    std::string framed;  // the ResourceMetrics, encoded and framed as a field of the request
    std::uint64_t generation = 0;
    std::size_t points = 0;
    bool gone = false;
  };
  // What an entry costs beyond its bytes: its key, map node and order entry.
  static constexpr std::uint64_t kEntryOverhead = 256;

  void schedule_send();
  void send_now();
  void on_done(exporting::export_outcome outcome, std::map<std::string, std::uint64_t> sent,
               std::size_t points);
  void check_flushed();
  // Drops the oldest states (of gone instances first) until the pending ones fit.
  void make_room();
  void forget(std::map<std::string, entry>::iterator it);

  asio::io_context& io_;
  std::shared_ptr<exporting::exporter> exporter_;
  retry_gate gate_;
  asio::steady_timer retry_timer_;
  asio::steady_timer flush_timer_;
  std::uint64_t max_request_bytes_;
  std::map<std::string, entry> pending_;
  // The pending keys by generation, oldest first: gone instances and live ones apart.
  std::map<std::uint64_t, std::string> gone_order_;
  std::map<std::uint64_t, std::string> live_order_;
  std::uint64_t pending_bytes_ = 0;
  std::uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point last_drop_warning_{};
  bool in_flight_ = false;
  bool send_scheduled_ = false;
  bool stopped_ = false;
  std::function<void(std::size_t)> flush_done_;
  std::chrono::steady_clock::time_point outage_started_{};
  lane_stats stats_;
};

}  // namespace sidelight::pipeline
