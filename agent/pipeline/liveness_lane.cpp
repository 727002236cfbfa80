#include "pipeline/liveness_lane.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "export/payload.hpp"
#include "log/fields.hpp"

namespace sidelight::pipeline {

namespace {

using namespace std::chrono_literals;
namespace otlp = opentelemetry::proto;

// While flushing for shutdown, waiting out a long backoff would only waste the deadline.
constexpr auto kFlushRetry = 200ms;

std::size_t count_points(const otlp::metrics::v1::ResourceMetrics& rm) {
  std::size_t n = 0;
  for (const auto& sm : rm.scope_metrics()) {
    for (const auto& m : sm.metrics()) {
      switch (m.data_case()) {
        case otlp::metrics::v1::Metric::kGauge:
          n += static_cast<std::size_t>(m.gauge().data_points_size());
          break;
        case otlp::metrics::v1::Metric::kSum:
          n += static_cast<std::size_t>(m.sum().data_points_size());
          break;
        case otlp::metrics::v1::Metric::kHistogram:
          n += static_cast<std::size_t>(m.histogram().data_points_size());
          break;
        default:
          ++n;
          break;
      }
    }
  }
  return n;
}

}  // namespace

liveness_lane::liveness_lane(asio::io_context& io, std::shared_ptr<exporting::exporter> exporter,
                             const config::retry_settings& retry)
    : io_(io),
      exporter_(std::move(exporter)),
      backoff_(retry),
      retry_timer_(io),
      flush_timer_(io) {}

void liveness_lane::offer(const std::string& key, otlp::metrics::v1::ResourceMetrics rm) {
  if (stopped_) return;
  auto points = count_points(rm);
  stats_.points_offered += points;
  auto& e = pending_[key];
  stats_.points_superseded += e.points;
  // Encoded now: a request is then the pending entries end to end, without a copy of each
  // instance's messages (the peak of the heap at every heartbeat).
  e.framed.clear();
  exporting::append_field1(e.framed, rm.SerializeAsString());
  e.points = points;
  e.generation = ++generation_;
  schedule_send();
}

// Offers made in the same turn of the event loop leave in one request.
void liveness_lane::schedule_send() {
  if (send_scheduled_ || stopped_) return;
  send_scheduled_ = true;
  asio::post(io_, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->send_scheduled_ = false;
    self->send_now();
  });
}

void liveness_lane::send_now() {
  exporting::release_unused_payloads();  // after a burst, an idle agent gives the memory back
  if (stopped_ || in_flight_ || waiting_retry_ || pending_.empty()) return;
  // An ExportMetricsServiceRequest: its resource_metrics (field 1), one after the other.
  std::map<std::string, std::uint64_t> sent;
  std::size_t points = 0;
  std::size_t size = 0;
  for (const auto& [key, e] : pending_)
    size += e.framed.size();
  auto bytes = std::make_shared<exporting::payload>();
  bytes->reserve(size);
  for (const auto& [key, e] : pending_) {
    bytes->append(e.framed);
    sent[key] = e.generation;
    points += e.points;
  }
  in_flight_ = true;
  exporter_->send(exporting::signal::metrics, std::move(bytes),
                  [weak = weak_from_this(), io = &io_, sent = std::move(sent),
                   points](exporting::export_outcome outcome) mutable {
                    asio::post(*io, [weak, outcome = std::move(outcome), sent = std::move(sent),
                                     points]() mutable {
                      if (auto self = weak.lock()) {
                        self->on_done(std::move(outcome), std::move(sent), points);
                      }
                    });
                  });
}

void liveness_lane::on_done(exporting::export_outcome outcome,
                            std::map<std::string, std::uint64_t> sent, std::size_t points) {
  in_flight_ = false;
  if (stopped_) return;
  stats_.last_latency = outcome.latency;
  using kind = exporting::export_outcome::kind;
  if (outcome.result == kind::retryable) {
    ++stats_.requests_failed;
    stats_.last_error = outcome.message;
    if (stats_.upstream_ok) {
      stats_.upstream_ok = false;
      outage_started_ = std::chrono::steady_clock::now();
      log::warn({.exporter = exporter_->name(), .error = outcome.message},
                "exporter {}: upstream failed ({}); keeping the latest state of {} instance(s) "
                "and retrying with backoff",
                exporter_->name(), outcome.message, pending_.size());
    }
    auto wait = backoff_.next();
    if (outcome.retry_after) {
      wait = std::max<std::chrono::nanoseconds>(wait, *outcome.retry_after);
    }
    if (flush_done_) wait = std::min<std::chrono::nanoseconds>(wait, kFlushRetry);
    ++stats_.retries;
    waiting_retry_ = true;
    retry_timer_.expires_after(wait);
    retry_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->waiting_retry_ = false;
      self->send_now();
    });
    return;
  }

  // Sent (or refused for good): what was sent leaves, unless a newer state replaced it meanwhile.
  for (const auto& [key, generation] : sent) {
    auto it = pending_.find(key);
    if (it != pending_.end() && it->second.generation == generation) pending_.erase(it);
  }
  if (outcome.result == kind::ok) {
    ++stats_.requests_ok;
    auto rejected = static_cast<std::size_t>(std::max<std::int64_t>(0, outcome.rejected));
    stats_.points_rejected += std::min(rejected, points);
    stats_.points_exported += points - std::min(rejected, points);
    if (rejected > 0) {
      stats_.last_error = "partial success: " + outcome.message;
    }
    if (!stats_.upstream_ok) {
      auto down = std::chrono::duration<double>(std::chrono::steady_clock::now() - outage_started_);
      spdlog::info("exporter {}: upstream reachable again after {:.1f}s", exporter_->name(),
                   down.count());
    }
    stats_.upstream_ok = true;
  } else {
    ++stats_.requests_failed;
    stats_.points_rejected += points;
    stats_.last_error = outcome.message;
    spdlog::warn("exporter {}: upstream refused {} data point(s) for good: {}", exporter_->name(),
                 points, outcome.message);
  }
  backoff_.reset();
  send_now();
  check_flushed();
}

void liveness_lane::flush(std::chrono::steady_clock::time_point deadline,
                          std::function<void(std::size_t)> done) {
  flush_done_ = std::move(done);
  if (waiting_retry_) {
    // Retry now rather than at the end of a long backoff.
    retry_timer_.cancel();
    waiting_retry_ = false;
  }
  flush_timer_.expires_at(deadline);
  flush_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || !self->flush_done_) return;
    auto finish = std::move(self->flush_done_);
    self->flush_done_ = nullptr;
    finish(self->pending_.size());
  });
  send_now();
  check_flushed();
}

void liveness_lane::check_flushed() {
  if (!flush_done_ || in_flight_ || !pending_.empty()) return;
  flush_timer_.cancel();
  auto done = std::move(flush_done_);
  flush_done_ = nullptr;
  done(0);
}

void liveness_lane::stop() {
  stopped_ = true;
  retry_timer_.cancel();
  flush_timer_.cancel();
  flush_done_ = nullptr;
}

}  // namespace sidelight::pipeline
