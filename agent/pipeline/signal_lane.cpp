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

// While flushing for shutdown, waiting out a long backoff would only waste the deadline.
constexpr auto kFlushRetry = 200ms;
// Failures are logged at most this often per lane; the counters have every one.
constexpr auto kWarnEvery = 10s;

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
                         exporting::signal s, lane_settings settings)
    : io_(io),
      exporter_(std::move(exporter)),
      signal_(s),
      settings_(std::move(settings)),
      batch_timer_(io),
      retry_timer_(io),
      flush_timer_(io),
      queue_(settings_.queue_max_bytes, settings_.queue_max_items, settings_.queue_max_chunks),
      backoff_(settings_.retry),
      // A spooled lane's queue is on disk; what it holds in memory is bounded by max_in_flight.
      holder_(settings_.spool ? 0 : settings_.queue_max_bytes) {}

void signal_lane::drop(std::uint64_t items, drop_reason why) {
  stats_.dropped_items[static_cast<std::size_t>(why)] += items;
}

void signal_lane::release(std::uint64_t bytes) {
  if (settings_.budget && bytes > 0) settings_.budget->release(bytes);
}

void signal_lane::land(const batch& b) {
  stats_.in_flight_items -= b.items;
  stats_.in_flight_bytes -= b.bytes;
  release(b.bytes);
  note_held();
}

void signal_lane::note_held() {
  stats_.queued_items = queue_.items();
  stats_.queued_bytes = queue_.bytes();
  holder_.set_held(queue_.bytes() + stats_.in_flight_bytes);
}

void signal_lane::offer(chunk c) {
  // On disk before intake answers the client; not under the lane's lock.
  bool unspooled = false;
  if (settings_.spool && c.bytes && !c.spooled) {
    if (auto record = settings_.spool->append(*c.bytes, c.items)) {
      c.spooled = std::move(record);
      c.bytes.reset();
    } else {
      unspooled = true;
    }
  }
  std::lock_guard lock(mutex_);
  stats_.received_items += c.items;
  if (unspooled) {
    // The spool is the queue: what it cannot take (a full or failing disk) is dropped and counted,
    // never held in memory without a bound.
    drop(c.items, drop_reason::queue_full);
    auto now = clock::now();
    if (now - last_spool_warning_ >= kWarnEvery) {
      last_spool_warning_ = now;
      spdlog::error(
          "exporter {}: the spool in {} cannot be written ({} failure(s) so far); {} "
          "data is dropped until it can",
          exporter_->name(), settings_.spool->dir(), settings_.spool->append_errors(),
          exporting::to_string(signal_));
    }
    return;
  }
  if (stopped_) {
    if (c.spooled) c.spooled->keep();
    drop(c.items, drop_reason::shutdown);
    return;
  }
  bool was_empty = queue_.empty();
  c.enqueued = clock::now();
  if (settings_.budget) settings_.budget->add(c.size());
  auto d = queue_.push(std::move(c), stats_.in_flight_bytes);
  if (d.items > 0 || d.chunks > 0) drop(d.items, drop_reason::queue_full);
  release(d.bytes);
  note_held();
  if (was_empty || queue_.items() >= settings_.batch_max_items ||
      queue_.bytes() >= settings_.batch_max_bytes) {
    schedule_pump();
  }
}

void signal_lane::recover() {
  if (!settings_.spool) return;
  auto records = settings_.spool->take_recovered();
  if (records.empty()) return;
  std::uint64_t items = 0;
  {
    std::lock_guard lock(mutex_);
    for (auto& r : records) {
      chunk c;
      c.items = r->items();
      c.spooled = std::move(r);
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
  spdlog::info("exporter {}: {} {} item(s) recovered from the spool in {}", exporter_->name(),
               items, exporting::to_string(signal_), settings_.spool->dir());
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
    while (waiting_.empty() && !probing_ && !queue_.empty() &&
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
      }
      stats_.in_flight_items += items;
      ++stats_.in_flight_requests;
      batches.push_back(std::move(taken));
    }
    note_held();
    // The batch timer only matters while sending is possible; when it is blocked (waiting for
    // the upstream, or max_in_flight reached), on_done() and on_retry_timer() pump again.
    bool blocked =
        !waiting_.empty() || probing_ || stats_.in_flight_requests >= settings_.max_in_flight;
    if (!queue_.empty() && !blocked) arm_batch_timer();
  }
  // Joining the chunks copies bytes; done outside the lock so intake never waits for it.
  std::uint64_t unreadable = 0;
  for (auto& taken : batches) {
    auto b = std::make_shared<batch>();
    std::size_t size = 0;
    for (const auto& c : taken)
      size += c.size();
    exporting::payload request;
    request.reserve(size);
    for (auto& c : taken) {
      b->items += c.items;
      if (c.bytes) {
        request.append(*c.bytes);
        c.bytes.reset();  // freed now, not after the whole batch is joined
      } else if (auto payload = c.spooled->read(); payload.size() == c.spooled->length()) {
        request.append(payload);
      } else {
        unreadable += c.items;  // counted below, as retry_exhausted: it cannot be sent
        b->items -= c.items;
      }
      if (c.spooled) b->records.push_back(std::move(c.spooled));
    }
    b->bytes = size;  // as counted in flight, read back or not
    b->request = std::make_shared<const exporting::payload>(std::move(request));
    b->first_attempt = clock::now();
    send(std::move(b));
  }
  if (unreadable > 0) {
    spdlog::error("exporter {}: {} {} item(s) could not be read back from the spool in {}",
                  exporter_->name(), unreadable, exporting::to_string(signal_),
                  settings_.spool->dir());
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
  auto request = b->request;
  exporter_->send(signal_, std::move(request),
                  [self = shared_from_this(), b = std::move(b)](exporting::export_outcome o) {
                    asio::post(self->io_, [self, b, o = std::move(o)]() mutable {
                      self->on_done(b, std::move(o));
                    });
                  });
}

void signal_lane::on_done(std::shared_ptr<batch> b, exporting::export_outcome outcome) {
  std::vector<std::shared_ptr<batch>> resend;
  {
    std::lock_guard lock(mutex_);
    auto now = clock::now();
    double seconds = std::chrono::duration<double>(outcome.latency).count();
    ++stats_.latency_buckets[latency_bucket(seconds)];
    stats_.latency_sum_seconds += seconds;
    bool was_probe = b->probe;
    b->probe = false;
    if (outcome.result == exporting::export_outcome::kind::ok) {
      auto rejected =
          std::min<std::uint64_t>(static_cast<std::uint64_t>(outcome.rejected), b->items);
      land(*b);
      --stats_.in_flight_requests;
      stats_.exported_items += b->items - rejected;
      drop(rejected, drop_reason::rejected_by_upstream);
      ++stats_.requests_ok;
      if (!stats_.upstream_ok) {
        spdlog::info("exporter {}: {} export works again", exporter_->name(),
                     exporting::to_string(signal_));
      }
      stats_.upstream_ok = true;
      probing_ = false;
      backoff_.reset();
      // The upstream answers again: everything that waited goes now.
      while (!waiting_.empty()) {
        resend.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
      }
      stats_.retries += resend.size();
    } else {
      ++stats_.requests_failed;
      stats_.last_error = outcome.message;
      bool retryable = outcome.result == exporting::export_outcome::kind::retryable;
      if (retryable) stats_.upstream_ok = false;
      auto max_elapsed = settings_.retry.max_elapsed_time;
      bool exhausted = !settings_.retry.enabled ||
                       (max_elapsed.count() > 0 && now - b->first_attempt >= max_elapsed);
      if (now - last_warning_ >= kWarnEvery) {
        last_warning_ = now;
        log::warn({.exporter = exporter_->name(), .error = outcome.message},
                  "exporter {}: {} export failed ({}): {}", exporter_->name(),
                  exporting::to_string(signal_), retryable ? "will retry" : "permanent",
                  outcome.message);
      }
      if (!retryable || exhausted || stopped_) {
        land(*b);
        --stats_.in_flight_requests;
        if (retryable && stopped_) {
          for (auto& r : b->records)
            r->keep();  // not delivered: stays in the spool for the next start
        }
        drop(b->items, !retryable ? drop_reason::rejected_by_upstream
                       : stopped_ ? drop_reason::shutdown
                                  : drop_reason::retry_exhausted);
        if (was_probe) probing_ = false;
        if (was_probe && !waiting_.empty()) arm_retry_timer(outcome.retry_after.value_or(0ms));
      } else {
        --stats_.in_flight_requests;  // its items stay in flight while they wait
        if (was_probe) {
          probing_ = false;
          waiting_.push_front(b);
          arm_retry_timer(outcome.retry_after.value_or(0ms));
        } else {
          waiting_.push_back(b);
          if (!probing_) arm_retry_timer(outcome.retry_after.value_or(0ms));
        }
      }
    }
    for (std::size_t i = 0; i < resend.size(); ++i)
      ++stats_.in_flight_requests;
    finish_flush_if_done();
  }
  for (auto& r : resend)
    send(std::move(r));
  pump();
}

void signal_lane::arm_retry_timer(std::chrono::nanoseconds hint) {
  if (retry_armed_ || stopped_) return;
  retry_armed_ = true;
  auto delay = std::max<std::chrono::nanoseconds>(backoff_.next(), hint);
  if (flushing_) delay = std::min<std::chrono::nanoseconds>(delay, kFlushRetry);
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
    retry_armed_ = false;
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
      finish_flush_if_done();
    } else {
      probe = waiting_.front();
      waiting_.pop_front();
      probe->probe = true;
      probing_ = true;
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
  if (retry_armed_) {
    // Retry sooner: the deadline is all that is left.
    retry_timer_.cancel();
    retry_armed_ = false;
    arm_retry_timer(0ms);
  }
  flush_timer_.expires_at(deadline);
  flush_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    std::lock_guard guard(self->mutex_);
    if (!self->flush_done_) return;
    // Everything not delivered by now: queued, waiting for a retry, or still in flight.
    auto left = self->queue_.items() + self->stats_.in_flight_items;
    self->hold_spool(left);
    auto d = self->queue_.clear();
    self->drop(d.items, drop_reason::shutdown);
    self->release(d.bytes);
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
  hold_spool(left);
  batch_timer_.cancel();
  retry_timer_.cancel();
  flush_timer_.cancel();
  auto d = queue_.clear();
  drop(d.items, drop_reason::shutdown);
  release(d.bytes);
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

void signal_lane::hold_spool(std::uint64_t left) {
  if (!settings_.spool) return;
  // What is queued or waiting stays on disk; what is in flight is kept if it fails (on_done).
  queue_.keep_spooled();
  for (auto& w : waiting_)
    for (auto& r : w->records)
      r->keep();
  if (left > 0 && !spool_held_) {
    spool_held_ = true;
    spdlog::info("exporter {}: {} {} item(s) stay in the spool in {} for the next start",
                 exporter_->name(), left, exporting::to_string(signal_), settings_.spool->dir());
  }
}

signal_lane_stats signal_lane::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace sidelight::pipeline
