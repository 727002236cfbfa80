// One exporter with everything that carries telemetry to it: the liveness lane for heartbeats,
// one signal lane per client signal (each with its bounded queue, and its spool when the exporter
// has one), and the flush that ends it, at shutdown or when a reload replaces it. What
// `queue.max_bytes` means for a spooled lane is decided here.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "export/exporter.hpp"
#include "opentelemetry/proto/metrics/v1/metrics.pb.h"
#include "pipeline/liveness_lane.hpp"
#include "pipeline/signal_lane.hpp"
#include "stats/stats.hpp"

namespace sidelight::pipeline {

class exporter_route {
 public:
  struct options {
    std::shared_ptr<exporting::exporter> exporter;
    std::string shown;  // where it sends, for the status
    config::retry_settings retry;
    const config::spool_settings* spool = nullptr;  // the exporter's, when it has one
    std::shared_ptr<memory_budget> budget;
    std::shared_ptr<pressure> intake_pressure;  // where the lanes push back on intake
  };

  // The route, or the error text when a spool cannot be opened.
  static std::variant<std::shared_ptr<exporter_route>, std::string> open(asio::io_context& io,
                                                                         const config::config& cfg,
                                                                         options o);
  ~exporter_route();

  const std::string& name() const { return exporter_->name(); }

  // The latest state of one instance (the event loop's thread); `gone`: its last.
  void offer(const std::string& key, opentelemetry::proto::metrics::v1::ResourceMetrics rm,
             bool gone);
  // A client's chunk of `s` (any thread).
  void offer(codec::signal s, chunk c);
  // Queues what the spools kept from an earlier run.
  void recover();

  // Sends what it holds until nothing is left or `deadline` passes, logging what could not be
  // sent (`when`: "within shutdown_timeout", "when replaced by a reload"); then calls `done` on
  // the loop.
  void flush(std::chrono::steady_clock::time_point deadline, const std::string& why,
             std::function<void()> done);
  // Stops the lanes (what they hold is counted as shutdown) and the exporter. Idempotent.
  void stop();

  void visit(stats::sink& out) const;
  // Calls `done` from the exporter's own thread once it gets there (the watchdog's liveness probe).
  void probe(std::function<void()> done) { exporter_->probe(std::move(done)); }
  // A reload replaced `old` (an exporter of the same name) with this route: the books continue
  // here, so that what intake counted stays accounted for and no counter goes backwards. Until
  // `old` has flushed, its numbers are read live; then settle() folds them in.
  void take_over(std::shared_ptr<const exporter_route> old);
  void settle(const exporter_route* old);
  // Why this route makes the agent not ready, appended to `out`.
  void not_ready(std::vector<std::string>& out) const;

 private:
  explicit exporter_route(options o);
  // Everything counted before this route, by what it replaced.
  signal_lane_stats before(std::size_t lane) const;
  lane_stats heartbeats_before() const;

  std::shared_ptr<exporting::exporter> exporter_;
  std::string shown_;
  std::shared_ptr<liveness_lane> heartbeats_;
  std::array<std::shared_ptr<signal_lane>, codec::kSignals> lanes_;
  bool stopped_ = false;
  std::shared_ptr<const exporter_route> predecessor_;
  std::array<signal_lane_stats, codec::kSignals> carried_{};
  lane_stats carried_heartbeats_;
};

}  // namespace sidelight::pipeline
