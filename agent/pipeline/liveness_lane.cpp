#include "pipeline/liveness_lane.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "codec/payload.hpp"
#include "log/fields.hpp"

namespace sidelight::pipeline {

namespace {

using namespace std::chrono_literals;
namespace otlp = opentelemetry::proto;

constexpr stats::metric kDataPoints{
    "sidelight.export.data_points", "{data_point}", stats::kind::counter,
    "Heartbeat data points by exporter and outcome (exported, rejected, superseded by a newer "
    "state before they could be sent, dropped when more waited than the lane holds).",
    "data_points_{outcome}"};
constexpr stats::metric kRequests{"sidelight.export.requests", "{request}", stats::kind::counter,
                                  "Heartbeat export requests by exporter and outcome (ok, failed).",
                                  "requests_{outcome}"};
constexpr stats::metric kRetries{"sidelight.export.retries", "{retry}", stats::kind::counter,
                                 "Heartbeat export retries by exporter.", "retries"};
constexpr stats::metric kUp{"sidelight.exporter.up", "", stats::kind::gauge,
                            "1 while the exporter's last heartbeat request succeeded, else 0.",
                            "up"};
constexpr stats::metric kPending{"sidelight.export.pending_states", "{state}", stats::kind::gauge,
                                 "Instance states waiting to be sent (at most one per instance).",
                                 "pending_states"};
constexpr stats::metric kLastLatency{"sidelight.export.last_latency", "s", stats::kind::gauge,
                                     "How long the last heartbeat request took to be answered.",
                                     "last_latency_seconds"};

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
                             const config::retry_settings& retry, std::uint64_t max_request_bytes)
    : io_(io),
      exporter_(std::move(exporter)),
      gate_(retry),
      retry_timer_(io),
      flush_timer_(io),
      max_request_bytes_(max_request_bytes) {}

void liveness_lane::offer(const std::string& key, otlp::metrics::v1::ResourceMetrics rm,
                          bool gone) {
  if (stopped_) return;
  auto points = count_points(rm);
  stats_.points_offered += points;
  if (auto it = pending_.find(key); it != pending_.end()) {
    stats_.points_superseded += it->second.points;
    forget(it);
  }
  auto& e = pending_[key];
  // Encoded now: a request is then the pending entries end to end, without a copy of each
  // instance's messages (the peak of the heap at every heartbeat).
  codec::append_field1(e.framed, rm.SerializeAsString());
  e.points = points;
  e.gone = gone;
  e.generation = ++generation_;
  (gone ? gone_order_ : live_order_)[e.generation] = key;
  pending_bytes_ += e.framed.size() + kEntryOverhead;
  make_room();
  schedule_send();
}

void liveness_lane::forget(std::map<std::string, entry>::iterator it) {
  (it->second.gone ? gone_order_ : live_order_).erase(it->second.generation);
  pending_bytes_ -= it->second.framed.size() + kEntryOverhead;
  pending_.erase(it);
}

void liveness_lane::make_room() {
  std::uint64_t dropped = 0;
  while (pending_bytes_ > kMaxPendingBytes && pending_.size() > 1) {
    // An instance that ended said so in its last state, and nothing replaces it; a live one's
    // state is sent again at its next interval. The gone go first, the oldest of them first.
    auto& order = gone_order_.empty() ? live_order_ : gone_order_;
    auto it = pending_.find(order.begin()->second);
    dropped += it->second.points;
    forget(it);
  }
  if (dropped == 0) return;
  stats_.points_dropped += dropped;
  auto now = std::chrono::steady_clock::now();
  if (now - last_drop_warning_ >= std::chrono::seconds(10)) {
    last_drop_warning_ = now;
    spdlog::warn(
        "exporter {}: more instance states wait than {} MiB hold; the oldest are dropped ({} "
        "data point(s) so far)",
        exporter_->name(), kMaxPendingBytes >> 20, stats_.points_dropped);
  }
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
  codec::release_unused_payloads();  // after a burst, an idle agent gives the memory back
  if (stopped_ || in_flight_ || gate_.waiting() || pending_.empty()) return;
  // An ExportMetricsServiceRequest: its resource_metrics (field 1), one after the other, up to
  // max_request_bytes (a state larger than that goes alone); what does not fit goes next.
  std::map<std::string, std::uint64_t> sent;
  std::size_t points = 0;
  std::size_t size = 0;
  for (const auto& [key, e] : pending_) {
    if (!sent.empty() && size + e.framed.size() > max_request_bytes_) break;
    size += e.framed.size();
    sent[key] = e.generation;
  }
  auto bytes = std::make_shared<codec::payload>();
  bytes->reserve(size);
  for (const auto& [key, generation] : sent) {
    const auto& e = pending_.at(key);
    bytes->append(e.framed);
    points += e.points;
  }
  in_flight_ = true;
  exporter_->send(codec::signal::metrics, std::move(bytes),
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
    if (gate_.upstream_ok()) {
      outage_started_ = std::chrono::steady_clock::now();
      log::warn({.exporter = exporter_->name(), .error = outcome.message},
                "exporter {}: upstream failed ({}); keeping the latest state of {} instance(s) "
                "and retrying with backoff",
                exporter_->name(), outcome.message, pending_.size());
    }
    gate_.failing();
    stats_.upstream_ok = false;
    ++stats_.retries;
    if (auto wait = gate_.schedule(outcome.retry_after, flush_done_ != nullptr)) {
      retry_timer_.expires_after(*wait);
      retry_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (!self || ec) return;
        self->gate_.probe();
        self->send_now();
      });
    }
    return;
  }

  // Sent (or refused for good): what was sent leaves, unless a newer state replaced it meanwhile.
  for (const auto& [key, generation] : sent) {
    auto it = pending_.find(key);
    if (it != pending_.end() && it->second.generation == generation) forget(it);
  }
  if (outcome.result == kind::ok) {
    ++stats_.requests_ok;
    auto rejected = static_cast<std::size_t>(std::max<std::int64_t>(0, outcome.rejected));
    stats_.points_rejected += std::min(rejected, points);
    stats_.points_exported += points - std::min(rejected, points);
    // The error shown is the upstream's current one: none once it answers again.
    stats_.last_error = rejected > 0 ? "partial success: " + outcome.message : std::string();
    if (gate_.succeeded()) {
      auto down = std::chrono::duration<double>(std::chrono::steady_clock::now() - outage_started_);
      spdlog::info("exporter {}: upstream reachable again after {:.1f}s", exporter_->name(),
                   down.count());
    }
    stats_.upstream_ok = true;
    stats_.refusing = false;
  } else {
    ++stats_.requests_failed;
    stats_.points_rejected += points;
    stats_.last_error = outcome.message;
    stats_.refusing = true;
    spdlog::warn("exporter {}: upstream refused {} data point(s) for good: {}", exporter_->name(),
                 points, outcome.message);
    gate_.refused();
  }
  send_now();
  check_flushed();
}

void liveness_lane::flush(std::chrono::steady_clock::time_point deadline,
                          std::function<void(std::size_t)> done) {
  flush_done_ = std::move(done);
  if (gate_.waiting()) {
    // Retry now rather than at the end of a long backoff.
    retry_timer_.cancel();
    gate_.probe();
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

void lane_stats::add(const lane_stats& o) {
  points_offered += o.points_offered;
  points_exported += o.points_exported;
  points_superseded += o.points_superseded;
  points_rejected += o.points_rejected;
  points_dropped += o.points_dropped;
  requests_ok += o.requests_ok;
  requests_failed += o.requests_failed;
  retries += o.retries;
}

void liveness_lane::visit(stats::sink& out, std::string_view endpoint,
                          const lane_stats& carried) const {
  auto n = [](std::uint64_t v) { return static_cast<double>(v); };
  auto st = stats_;
  st.add(carried);
  out.open("exporters", {{"exporter", exporter_->name()}});
  out.fact("endpoint", endpoint);
  out.fact("upstream", st.upstream_ok ? "up" : "failing");
  out.fact("last_error", st.last_error);
  out.value(kDataPoints, {{"outcome", "exported"}}, n(st.points_exported));
  out.value(kDataPoints, {{"outcome", "rejected"}}, n(st.points_rejected));
  out.value(kDataPoints, {{"outcome", "superseded"}}, n(st.points_superseded));
  out.value(kDataPoints, {{"outcome", "dropped"}}, n(st.points_dropped));
  out.value(kRequests, {{"outcome", "ok"}}, n(st.requests_ok));
  out.value(kRequests, {{"outcome", "failed"}}, n(st.requests_failed));
  out.value(kRetries, {}, n(st.retries));
  out.value(kUp, {}, st.upstream_ok ? 1 : 0);
  out.value(kPending, {}, n(pending_.size()));
  out.value(kLastLatency, {}, std::chrono::duration<double>(st.last_latency).count());
  out.close();
}

void liveness_lane::stop() {
  stopped_ = true;
  retry_timer_.cancel();
  flush_timer_.cancel();
  flush_done_ = nullptr;
}

}  // namespace sidelight::pipeline
