// The pipeline stage owns what happens between producing telemetry and exporting it: holding,
// batching, retrying and counting. The liveness lane carries heartbeats and state changes to one
// exporter. It keeps only the latest state per instance, so it is bounded by the number of
// instances, never by the length of an outage: when upstream is down it retries with exponential
// backoff and jitter, and when upstream returns it sends the newest state of every instance.
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
#include "pipeline/backoff.hpp"
#include "stats/stats.hpp"

namespace sidelight::pipeline {

namespace asio = boost::asio;

struct lane_stats {
  std::uint64_t points_offered = 0;
  std::uint64_t points_exported = 0;
  std::uint64_t points_superseded = 0;  // replaced by a newer state before they could be sent
  std::uint64_t points_rejected = 0;    // refused for good by upstream (or partially)
  std::uint64_t requests_ok = 0;
  std::uint64_t requests_failed = 0;
  std::uint64_t retries = 0;
  std::string last_error;
  bool upstream_ok = true;
  std::chrono::nanoseconds last_latency{0};
};

class liveness_lane : public std::enable_shared_from_this<liveness_lane> {
 public:
  liveness_lane(asio::io_context& io, std::shared_ptr<exporting::exporter> exporter,
                const config::retry_settings& retry);

  // The latest state of one instance; replaces any state of the same key not yet sent.
  void offer(const std::string& key, opentelemetry::proto::metrics::v1::ResourceMetrics rm);

  // Sends what is pending, retrying quickly, until nothing is left or `deadline` passes; then
  // calls `done` with the number of instance states that could not be sent.
  void flush(std::chrono::steady_clock::time_point deadline, std::function<void(std::size_t)> done);

  // Cancels timers and in-flight work; nothing more is sent.
  void stop();

  const lane_stats& stats() const { return stats_; }
  // Its numbers, as section "exporters" named by the exporter, with `endpoint` as a fact.
  void visit(stats::sink& out, std::string_view endpoint) const;
  const std::string& exporter_name() const { return exporter_->name(); }
  std::size_t pending() const { return pending_.size(); }

 private:
  struct entry {
    std::string framed;  // the ResourceMetrics, encoded and framed as a field of the request
    std::uint64_t generation = 0;
    std::size_t points = 0;
  };

  void schedule_send();
  void send_now();
  void on_done(exporting::export_outcome outcome, std::map<std::string, std::uint64_t> sent,
               std::size_t points);
  void check_flushed();

  asio::io_context& io_;
  std::shared_ptr<exporting::exporter> exporter_;
  backoff backoff_;
  asio::steady_timer retry_timer_;
  asio::steady_timer flush_timer_;
  std::map<std::string, entry> pending_;
  std::uint64_t generation_ = 0;
  bool in_flight_ = false;
  bool send_scheduled_ = false;
  bool waiting_retry_ = false;
  bool stopped_ = false;
  std::function<void(std::size_t)> flush_done_;
  std::chrono::steady_clock::time_point outage_started_{};
  lane_stats stats_;
};

}  // namespace sidelight::pipeline
