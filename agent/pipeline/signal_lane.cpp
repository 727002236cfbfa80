#include "pipeline/signal_lane.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "log/fields.hpp"

namespace sidelight::pipeline {

// kSpooledChunkMemory counts a queue entry and a record with its shared_ptr control block and
// malloc's header; it must not fall behind what they are.
static_assert(sizeof(chunk) + sizeof(spool_record) + 2 * sizeof(void*) + 16 <= kSpooledChunkMemory);

namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

// Failures are logged at most this often per lane; the counters have every one.
constexpr auto kWarnEvery = 10s;

constexpr stats::metric kItems{
    "sidelight.pipeline.items", "{item}", stats::kind::counter,
    "Client spans, log records and data points by exporter, signal and outcome (received, "
    "exported, dropped with a reason).",
    "{outcome}"};
constexpr stats::metric kRecovered{
    "sidelight.pipeline.recovered", "{item}", stats::kind::counter,
    "Of the items received, those read back from the spool at start.", "recovered"};
constexpr stats::metric kQueueSize{
    "sidelight.queue.size", "By", stats::kind::gauge,
    "Bytes waiting in the queue: encoded telemetry, and 144 bytes a chunk of bookkeeping.",
    "queued_bytes"};
constexpr stats::metric kQueueItems{"sidelight.queue.items", "{item}", stats::kind::gauge,
                                    "Client items waiting in the queue.", "queued_items"};
constexpr stats::metric kQueueCapacity{
    "sidelight.queue.capacity", "By", stats::kind::gauge,
    "The bytes the queue may hold, queued and in flight together (queue.max_bytes, or the "
    "spool's max_bytes).",
    "capacity_bytes"};
constexpr stats::metric kInFlight{"sidelight.pipeline.in_flight", "{item}", stats::kind::gauge,
                                  "Client items sent and not yet answered, or waiting for a retry.",
                                  "in_flight"};
constexpr stats::metric kRequests{"sidelight.pipeline.requests", "{request}", stats::kind::counter,
                                  "Export requests of client telemetry by outcome (ok, failed).",
                                  "requests_{outcome}"};
constexpr stats::metric kRetries{"sidelight.pipeline.retries", "{retry}", stats::kind::counter,
                                 "Export retries of client telemetry.", "retries"};
constexpr stats::metric kLatency{"sidelight.export.latency", "s", stats::kind::histogram,
                                 "Time from sending a request of client telemetry upstream to its "
                                 "answer.",
                                 "latency"};

std::size_t latency_bucket(double seconds) {
  auto it = std::lower_bound(kLatencyBounds.begin(), kLatencyBounds.end(), seconds);
  return static_cast<std::size_t>(it - kLatencyBounds.begin());
}

}  // namespace

std::string_view to_string(drop_reason r) {
  switch (r) {
    case drop_reason::queue_full:
      return "queue_full";
    case drop_reason::retry_exhausted:
      return "retry_exhausted";
    case drop_reason::shutdown:
      return "shutdown";
    case drop_reason::rejected_by_upstream:
      return "rejected_by_upstream";
  }
  return "unknown";
}

signal_lane::signal_lane(asio::io_context& io, std::shared_ptr<exporting::exporter> exporter,
                         codec::signal s, lane_settings settings)
    : io_(io),
      exporter_(std::move(exporter)),
      signal_(s),
      settings_(std::move(settings)),
      batch_timer_(io),
      retry_timer_(io),
      flush_timer_(io),
      store_(settings_.store ? settings_.store : memory_store(settings_.budget)),
      queue_(settings_.queue_max_bytes, settings_.queue_max_items, settings_.queue_max_chunks),
      gate_(settings_.retry),
      holder_(store_->memory_bound(settings_.queue_max_bytes)) {}

void signal_lane::drop(std::uint64_t items, drop_reason why) {
  stats_.dropped_items[static_cast<std::size_t>(why)] += items;
}

void signal_lane::land(const batch& b) {
  stats_.in_flight_items -= b.items;
  stats_.in_flight_bytes -= b.bytes;
  store_->release(b.bytes);
  note_held();
}

void signal_lane::note_held() {
  stats_.queued_items = queue_.items();
  stats_.queued_bytes = queue_.bytes();
  stats_.upstream_ok = gate_.upstream_ok();
  holder_.set_held(queue_.bytes() + stats_.in_flight_bytes);
  // While the upstream answers, slowing the clients down loses nothing; during an outage the
  // freshest data is worth more than the oldest, and clients must not be held up without end.
  auto mode = settings_.when_full;
  bool wanted = !stopped_ && mode != config::when_full::drop_oldest &&
                (mode == config::when_full::backpressure || gate_.upstream_ok()) &&
                queue_.nearly_full(stats_.in_flight_bytes);
  push_back(wanted);
}

void signal_lane::push_back(bool on) {
  if (stats_.pushing_back == on) return;
  stats_.pushing_back = on;
  if (settings_.intake_pressure) settings_.intake_pressure->set(signal_, on);
}

void signal_lane::offer(chunk c) {
  // Stored (on disk, for a spool) before intake answers the client; not under the lane's lock.
  bool stored = store_->store(c);
  std::lock_guard lock(mutex_);
  stats_.received_items += c.items;
  if (!stored) {
    // The store is the queue: what it cannot take (a full or failing disk) is dropped and
    // counted, never held in memory without a bound.
    drop(c.items, drop_reason::queue_full);
    warn_store_failure();
    return;
  }
  if (stopped_) {
    if (c.spooled) c.spooled->keep();
    drop(c.items, drop_reason::shutdown);
    return;
  }
  bool was_empty = queue_.empty();
  c.enqueued = clock::now();
  store_->hold(c.held());
  auto d = queue_.push(std::move(c), stats_.in_flight_bytes);
  if (d.items > 0 || d.chunks > 0) {
    drop(d.items, drop_reason::queue_full);
    hurry_probe();
  }
  store_->release(d.bytes);
  note_held();
  if (was_empty || queue_.items() >= settings_.batch_max_items ||
      queue_.bytes() >= settings_.batch_max_bytes) {
    schedule_pump();
  }
}

void signal_lane::warn_store_failure() {
  auto now = clock::now();
  if (now - last_store_warning_ < kWarnEvery) return;
  last_store_warning_ = now;
  spdlog::error("exporter {}: {}; {} data is dropped until it can", exporter_->name(),
                store_->store_failure(), codec::to_string(signal_));
}

void signal_lane::recover() {
  auto chunks = store_->recover();
  if (chunks.empty()) return;
  std::uint64_t items = 0;
  {
    std::lock_guard lock(mutex_);
    for (auto& c : chunks) {
      c.enqueued = clock::now();
      items += c.items;
      stats_.received_items += c.items;
      stats_.recovered_items += c.items;
      auto d = queue_.push(std::move(c), stats_.in_flight_bytes);
      if (d.items > 0 || d.chunks > 0) drop(d.items, drop_reason::queue_full);
    }
    note_held();
    schedule_pump();
  }
  spdlog::info("exporter {}: {} {} item(s) recovered from {}", exporter_->name(), items,
               codec::to_string(signal_), store_->durable_place().value_or("the store"));
}

void signal_lane::schedule_pump() {
  if (pump_scheduled_) return;
  pump_scheduled_ = true;
  asio::post(io_, [self = shared_from_this()] { self->pump(); });
}

void signal_lane::pump() {
  std::vector<std::vector<chunk>> batches;
  {
    std::lock_guard lock(mutex_);
    pump_scheduled_ = false;
    if (stopped_) return;
    auto now = clock::now();
    while (waiting_.empty() && !gate_.probing() && !queue_.empty() &&
           stats_.in_flight_requests < settings_.max_in_flight) {
      bool full = queue_.items() >= settings_.batch_max_items ||
                  queue_.bytes() >= settings_.batch_max_bytes;
      bool due = now >= queue_.front().enqueued + settings_.batch_timeout;
      if (!full && !due && !flushing_) break;
      auto taken = queue_.pop_batch(settings_.batch_max_items, settings_.batch_max_bytes);
      std::uint64_t items = 0;
      for (const auto& c : taken) {
        items += c.items;
        stats_.in_flight_bytes += c.size();
        store_->release(c.held() - c.size());  // in flight, the chunks are one request's bytes
      }
      stats_.in_flight_items += items;
      ++stats_.in_flight_requests;
      batches.push_back(std::move(taken));
    }
    note_held();
    // The batch timer only matters while sending is possible; when it is blocked (waiting for
    // the upstream, or max_in_flight reached), on_done() and on_retry_timer() pump again.
    bool blocked = !waiting_.empty() || gate_.probing() ||
                   stats_.in_flight_requests >= settings_.max_in_flight;
    if (!queue_.empty() && !blocked) arm_batch_timer();
  }
  // Reading spooled chunks back (and joining them for an exporter that needs one buffer) is
  // done outside the lock, so intake never waits for it.
  std::uint64_t unreadable = 0;
  for (auto& taken : batches) {
    auto b = std::make_shared<batch>();
    b->parts.reserve(taken.size());
    for (auto& c : taken) {
      b->bytes += c.size();  // as counted in flight, read back or not
      if (auto bytes = store_->load(c)) {
        b->items += c.items;
        b->parts.push_back(std::move(bytes));
      } else {
        unreadable += c.items;  // counted below, as retry_exhausted: it cannot be sent
      }
      if (c.spooled) b->records.push_back(std::move(c.spooled));
    }
    if (!exporter_->sends_parts()) {  // one buffer, so that the chunks are not held twice
      auto joined = codec::join(b->parts);
      b->parts.clear();
      b->parts.push_back(std::move(joined));
    }
    b->first_attempt = clock::now();
    send(std::move(b));
  }
  if (unreadable > 0) {
    spdlog::error("exporter {}: {} {} item(s) could not be read back from {}", exporter_->name(),
                  unreadable, codec::to_string(signal_),
                  store_->durable_place().value_or("the store"));
    std::lock_guard lock(mutex_);
    stats_.in_flight_items -= unreadable;
    drop(unreadable, drop_reason::retry_exhausted);
  }
}

void signal_lane::arm_batch_timer() {
  if (timer_armed_) return;
  timer_armed_ = true;
  batch_timer_.expires_at(queue_.front().enqueued + settings_.batch_timeout);
  batch_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    {
      std::lock_guard lock(self->mutex_);
      self->timer_armed_ = false;
    }
    if (!ec) self->pump();
  });
}

void signal_lane::send(std::shared_ptr<batch> b) {
  auto parts = b->parts;
  auto done = [self = shared_from_this(), b = std::move(b)](exporting::export_outcome o) {
    asio::post(self->io_,
               [self, b, o = std::move(o)]() mutable { self->on_done(b, std::move(o)); });
  };
  if (exporter_->sends_parts()) {
    exporter_->send_parts(signal_, std::move(parts), std::move(done));
  } else {
    exporter_->send(signal_, std::move(parts.front()), std::move(done));  // joined in pump()
  }
}

void signal_lane::on_done(std::shared_ptr<batch> b, exporting::export_outcome outcome) {
  std::vector<std::shared_ptr<batch>> resend;
  {
    std::lock_guard lock(mutex_);
    double seconds = std::chrono::duration<double>(outcome.latency).count();
    ++stats_.latency_buckets[latency_bucket(seconds)];
    stats_.latency_sum_seconds += seconds;
    bool was_probe = b->probe;
    b->probe = false;
    if (outcome.result == exporting::export_outcome::kind::ok) {
      on_success(*b, outcome, resend);
    } else {
      on_failure(std::move(b), outcome, was_probe);
    }
    stats_.in_flight_requests += resend.size();
    note_held();
    finish_flush_if_done();
  }
  for (auto& r : resend)
    send(std::move(r));
  pump();
}

void signal_lane::on_success(batch& b, const exporting::export_outcome& outcome,
                             std::vector<std::shared_ptr<batch>>& resend) {
  auto rejected = std::min<std::uint64_t>(static_cast<std::uint64_t>(outcome.rejected), b.items);
  land(b);
  --stats_.in_flight_requests;
  stats_.exported_items += b.items - rejected;
  drop(rejected, drop_reason::rejected_by_upstream);
  ++stats_.requests_ok;
  if (gate_.succeeded()) {
    spdlog::info("exporter {}: {} export works again", exporter_->name(),
                 codec::to_string(signal_));
  }
  // The error shown is the upstream's current one: none once it answers again.
  stats_.last_error = rejected > 0 ? "partial success: " + outcome.message : std::string();
  // The upstream answers again: everything that waited goes now.
  while (!waiting_.empty()) {
    resend.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  stats_.retries += resend.size();
}

void signal_lane::on_failure(std::shared_ptr<batch> b, const exporting::export_outcome& outcome,
                             bool was_probe) {
  auto now = clock::now();
  ++stats_.requests_failed;
  stats_.last_error = outcome.message;
  bool retryable = outcome.result == exporting::export_outcome::kind::retryable;
  if (retryable) gate_.failing();
  // The upstream's own hint bounds how soon any probe goes, a hurried one included.
  retry_not_before_ = now + outcome.retry_after.value_or(std::chrono::milliseconds(0));
  auto max_elapsed = settings_.retry.max_elapsed_time;
  bool exhausted = !settings_.retry.enabled ||
                   (max_elapsed.count() > 0 && now - b->first_attempt >= max_elapsed);
  if (now - last_warning_ >= kWarnEvery) {
    last_warning_ = now;
    log::warn({.exporter = exporter_->name(), .error = outcome.message},
              "exporter {}: {} export failed ({}): {}", exporter_->name(),
              codec::to_string(signal_), retryable ? "will retry" : "permanent", outcome.message);
  }
  --stats_.in_flight_requests;
  if (!retryable || exhausted || stopped_) {
    land(*b);
    if (retryable && stopped_) {
      for (auto& r : b->records)
        r->keep();  // not delivered: stays in the spool for the next start
    }
    drop(b->items, !retryable ? drop_reason::rejected_by_upstream
                   : stopped_ ? drop_reason::shutdown
                              : drop_reason::retry_exhausted);
    if (!was_probe) return;
    // The probe is settled; whatever else waits needs another one.
    if (waiting_.empty()) {
      gate_.reopen();
    } else if (auto delay = gate_.schedule(outcome.retry_after, flushing_, losing())) {
      arm_retry_timer(*delay);
    }
    return;
  }
  // Its items stay in flight while it waits; a failed probe goes back to the front.
  if (was_probe) {
    waiting_.push_front(std::move(b));
  } else {
    waiting_.push_back(std::move(b));
  }
  if (was_probe || !gate_.probing()) {
    if (auto delay = gate_.schedule(outcome.retry_after, flushing_, losing())) {
      arm_retry_timer(*delay);
    }
  }
}

bool signal_lane::losing() const {
  return queue_.nearly_full(stats_.in_flight_bytes);
}

// The queue drops its oldest while a probe waits out a long backoff: the probe goes sooner (as
// the gate would have scheduled it had the queue been dropping then), so that an upstream that is
// back is found before much more is lost.
void signal_lane::hurry_probe() {
  if (!gate_.waiting() || hurry_posted_ || retry_due_ <= hurried_due()) return;
  hurry_posted_ = true;
  asio::post(io_, [self = shared_from_this()] {
    std::lock_guard lock(self->mutex_);
    self->hurry_posted_ = false;
    auto due = self->hurried_due();
    if (self->gate_.waiting() && self->retry_due_ > due) {
      self->arm_retry_timer(due - clock::now());
    }
  });
}

clock::time_point signal_lane::hurried_due() const {
  return std::max(clock::now() + retry_gate::kLosingRetry, retry_not_before_);
}

void signal_lane::arm_retry_timer(std::chrono::nanoseconds delay) {
  if (stopped_) return;
  retry_due_ = clock::now() + std::chrono::duration_cast<clock::duration>(delay);
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([self = shared_from_this(),
                           generation = ++retry_generation_](const boost::system::error_code& ec) {
    if (!ec) self->on_retry_timer(generation);
  });
}

void signal_lane::on_retry_timer(std::uint64_t generation) {
  std::shared_ptr<batch> probe;
  {
    std::lock_guard lock(mutex_);
    // An expiry already queued when flush() re-armed the timer: the newer one decides.
    if (generation != retry_generation_) return;
    if (stopped_) return;
    auto now = clock::now();
    auto max_elapsed = settings_.retry.max_elapsed_time;
    while (!waiting_.empty() && max_elapsed.count() > 0 &&
           now - waiting_.front()->first_attempt >= max_elapsed) {
      land(*waiting_.front());
      drop(waiting_.front()->items, drop_reason::retry_exhausted);
      waiting_.pop_front();
    }
    if (waiting_.empty()) {
      gate_.reopen();
      finish_flush_if_done();
    } else {
      probe = waiting_.front();
      waiting_.pop_front();
      probe->probe = true;
      gate_.probe();
      ++stats_.retries;
      ++stats_.in_flight_requests;
    }
  }
  if (probe) {
    send(std::move(probe));
  } else {
    pump();
  }
}

void signal_lane::flush(clock::time_point deadline, std::function<void(std::uint64_t)> done) {
  std::lock_guard lock(mutex_);
  flushing_ = true;
  flush_done_ = std::move(done);
  // A probe scheduled after a long backoff goes now: the deadline is all that is left.
  if (gate_.waiting()) arm_retry_timer(0ms);
  flush_timer_.expires_at(deadline);
  flush_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    std::lock_guard guard(self->mutex_);
    if (!self->flush_done_) return;
    // Everything not delivered by now: queued, waiting for a retry, or still in flight.
    auto left = self->queue_.items() + self->stats_.in_flight_items;
    self->keep_for_next_start(left);
    auto d = self->queue_.clear();
    self->drop(d.items, drop_reason::shutdown);
    self->store_->release(d.bytes);
    for (auto& w : self->waiting_) {
      self->land(*w);
      self->drop(w->items, drop_reason::shutdown);
    }
    self->waiting_.clear();
    self->note_held();
    asio::post(self->io_, [done = std::move(self->flush_done_), left] { done(left); });
    self->flush_done_ = nullptr;
  });
  schedule_pump();
  finish_flush_if_done();
}

void signal_lane::finish_flush_if_done() {
  if (!flush_done_ || !queue_.empty() || stats_.in_flight_items > 0) return;
  flush_timer_.cancel();
  asio::post(io_, [done = std::move(flush_done_)] { done(0); });
  flush_done_ = nullptr;
}

void signal_lane::stop() {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  stopped_ = true;
  auto left = queue_.items() + stats_.in_flight_items;
  keep_for_next_start(left);
  batch_timer_.cancel();
  retry_timer_.cancel();
  flush_timer_.cancel();
  auto d = queue_.clear();
  drop(d.items, drop_reason::shutdown);
  store_->release(d.bytes);
  for (auto& w : waiting_) {
    land(*w);
    drop(w->items, drop_reason::shutdown);
  }
  waiting_.clear();
  note_held();
  if (flush_done_) {
    // Stopped in the middle of a flush: say what was left, as the deadline would have.
    asio::post(io_, [done = std::move(flush_done_), left] { done(left); });
    flush_done_ = nullptr;
  }
}

void signal_lane::keep_for_next_start(std::uint64_t left) {
  auto place = store_->durable_place();
  if (!place) return;
  // What is queued or waiting stays; what is in flight is kept if it fails (on_failure).
  queue_.keep_spooled();
  for (auto& w : waiting_)
    for (auto& r : w->records)
      r->keep();
  if (left > 0 && !kept_logged_) {
    kept_logged_ = true;
    spdlog::info("exporter {}: {} {} item(s) stay in {} for the next start", exporter_->name(),
                 left, codec::to_string(signal_), *place);
  }
}

void signal_lane_stats::add(const signal_lane_stats& o) {
  received_items += o.received_items;
  recovered_items += o.recovered_items;
  exported_items += o.exported_items;
  for (std::size_t r = 0; r < kDropReasons; ++r)
    dropped_items[r] += o.dropped_items[r];
  queued_items += o.queued_items;
  queued_bytes += o.queued_bytes;
  in_flight_items += o.in_flight_items;
  in_flight_bytes += o.in_flight_bytes;
  in_flight_requests += o.in_flight_requests;
  requests_ok += o.requests_ok;
  requests_failed += o.requests_failed;
  retries += o.retries;
  for (std::size_t b = 0; b < latency_buckets.size(); ++b)
    latency_buckets[b] += o.latency_buckets[b];
  latency_sum_seconds += o.latency_sum_seconds;
}

void signal_lane::visit(stats::sink& out, const signal_lane_stats& carried) const {
  auto st = stats();
  st.add(carried);
  auto sig = codec::to_string(signal_);
  out.open("pipelines", {{"exporter", exporter_->name()}, {"signal", sig}});
  out.fact("upstream", st.upstream_ok ? "up" : "failing");
  out.fact("pushing_back", st.pushing_back ? "yes" : "no");
  out.fact("last_error", st.last_error);
  auto n = [](std::uint64_t v) { return static_cast<double>(v); };
  out.value(kItems, {{"outcome", "received"}}, n(st.received_items));
  out.value(kItems, {{"outcome", "exported"}}, n(st.exported_items));
  for (std::size_t r = 0; r < kDropReasons; ++r) {
    out.value(kItems, {{"outcome", "dropped"}, {"reason", to_string(static_cast<drop_reason>(r))}},
              n(st.dropped_items[r]));
  }
  out.value(kRecovered, {}, n(st.recovered_items));
  out.value(kQueueItems, {}, n(st.queued_items));
  out.value(kQueueSize, {}, n(st.queued_bytes));
  out.value(kQueueCapacity, {}, n(settings_.queue_max_bytes));
  out.value(kInFlight, {}, n(st.in_flight_items));
  out.value(kRequests, {{"outcome", "ok"}}, n(st.requests_ok));
  out.value(kRequests, {{"outcome", "failed"}}, n(st.requests_failed));
  out.value(kRetries, {}, n(st.retries));
  out.histogram(kLatency, {}, {kLatencyBounds, st.latency_buckets, st.latency_sum_seconds});
  out.close();
}

signal_lane_stats signal_lane::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace sidelight::pipeline
