// A signal lane carries one signal (traces, logs or client metrics) to one exporter: a bounded
// drop-oldest queue, a batcher with item, byte and time triggers, up to `max_in_flight` requests
// at once, and retries with backoff. Batches are joined at the byte level: the queue holds encoded
// Resource* fields, and a request is their concatenation, so nothing is decoded on the way out.
//
// Every item is accounted for at every moment:
//   received = exported + dropped (all reasons) + queued + in_flight
// offer() may be called from any thread; everything else runs on the io_context's thread.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "export/exporter.hpp"
#include "pipeline/drop_oldest_queue.hpp"
#include "pipeline/lane_store.hpp"
#include "pipeline/memory_budget.hpp"
#include "pipeline/pressure.hpp"
#include "pipeline/retry_gate.hpp"
#include "stats/stats.hpp"

namespace sidelight::pipeline {

namespace asio = boost::asio;

enum class drop_reason { queue_full, retry_exhausted, shutdown, rejected_by_upstream };
inline constexpr std::size_t kDropReasons = 4;
std::string_view to_string(drop_reason r);

struct lane_settings {
  std::uint64_t queue_max_bytes = 64ull << 20;
  std::uint64_t queue_max_items = 0;
  std::uint64_t batch_max_items = 8192;
  std::uint64_t batch_max_bytes = 4ull << 20;
  std::chrono::nanoseconds batch_timeout = std::chrono::milliseconds(200);
  config::retry_settings retry;
  std::size_t max_in_flight = 4;
  std::shared_ptr<memory_budget> budget;  // shared by every lane; may be null
  // Where payloads are kept; null: in memory, counted by `budget`. A spooled lane writes every
  // chunk to disk before it is queued and reads it back to be sent; its queue then holds no
  // payload in memory, and queue_max_bytes bounds the spool.
  std::shared_ptr<lane_store> store;
  // 0: none. A spooled lane still holds an entry in memory for each chunk on disk
  // (kSpooledChunkMemory), so this bounds how many: many tiny requests must not fill memory
  // while the spool's byte budget has room.
  std::uint64_t queue_max_chunks = 0;
  // What a full queue does; with backpressure, `intake_pressure` (shared by every lane, may be
  // null) tells intake.
  config::when_full when_full = config::when_full::backpressure_then_drop_oldest;
  std::shared_ptr<pressure> intake_pressure;
};

// A spooled chunk's queue entry and spool record in memory, allocation overhead included:
// 48 bytes of `chunk`, 64 of record and control block, and malloc's 16.
inline constexpr std::uint64_t kSpooledChunkMemory = 128;

// Upper bounds (seconds) of the export latency histogram's buckets; the last bucket is +Inf.
inline constexpr std::array<double, 12> kLatencyBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                          0.1,   0.25,   0.5,   1,    2.5,   10};

struct signal_lane_stats {
  std::uint64_t received_items = 0;
  std::uint64_t recovered_items = 0;  // of those, read back from the spool at start
  std::uint64_t exported_items = 0;
  std::array<std::uint64_t, kDropReasons> dropped_items{};
  std::uint64_t queued_items = 0;
  std::uint64_t queued_bytes = 0;
  std::uint64_t in_flight_items = 0;
  std::uint64_t in_flight_bytes = 0;  // counted against the queue's byte bound too
  std::uint64_t in_flight_requests = 0;
  std::uint64_t requests_ok = 0;
  std::uint64_t requests_failed = 0;
  std::uint64_t retries = 0;
  std::array<std::uint64_t, kLatencyBounds.size() + 1> latency_buckets{};
  double latency_sum_seconds = 0;
  std::string last_error;
  bool upstream_ok = true;
  bool pushing_back = false;  // the queue is nearly full and intake refuses new data for it

  std::uint64_t dropped_total() const {
    std::uint64_t n = 0;
    for (auto d : dropped_items)
      n += d;
    return n;
  }
  bool balanced() const {
    return received_items == exported_items + dropped_total() + queued_items + in_flight_items;
  }
  // Adds another lane's numbers (a predecessor's, replaced by a reload); the text and the
  // upstream's state stay this one's.
  void add(const signal_lane_stats& o);
};

class signal_lane : public std::enable_shared_from_this<signal_lane> {
 public:
  signal_lane(asio::io_context& io, std::shared_ptr<exporting::exporter> exporter, codec::signal s,
              lane_settings settings);

  // Thread-safe. Queues `c`; when the queue is full the oldest chunks are dropped (queue_full).
  // What is in flight (or waiting for a retry) counts against queue_max_bytes as well, so the
  // lane never holds more than that. With when_full asking for backpressure, a nearly full
  // queue pushes back on intake first (see pressure.hpp), so that nothing need be dropped.
  void offer(chunk c);

  // Queues what the spool kept from an earlier run (counted as received and as recovered).
  void recover();

  // Sends everything queued, without waiting for batch timeouts, until nothing is left or
  // `deadline` passes; then whatever remains is dropped (shutdown) and `done` gets its item count.
  void flush(std::chrono::steady_clock::time_point deadline,
             std::function<void(std::uint64_t)> done);

  // Cancels timers; nothing more is sent. Idempotent.
  void stop();

  signal_lane_stats stats() const;
  // Its numbers, as section "pipelines" named by exporter and signal, with `carried` (what a
  // lane it replaced counted) added.
  void visit(stats::sink& out, const signal_lane_stats& carried = {}) const;
  codec::signal signal() const { return signal_; }
  const std::string& exporter_name() const { return exporter_->name(); }

 private:
  struct batch {
    std::vector<codec::payload_ptr> parts;  // the request: the chunks' payloads, in order
    std::uint64_t items = 0;
    std::uint64_t bytes = 0;
    std::chrono::steady_clock::time_point first_attempt{};
    std::vector<std::shared_ptr<spool_record>> records;  // released when the batch is done
    bool probe = false;  // sent by the retry timer to find out whether the upstream is back
  };

  void schedule_pump();  // any thread, lock held
  void pump();           // io thread
  void send(std::shared_ptr<batch> b);
  void on_done(std::shared_ptr<batch> b, exporting::export_outcome outcome);
  void arm_batch_timer();                                     // io thread, lock held
  void arm_retry_timer(std::chrono::nanoseconds delay);       // io thread, lock held
  bool losing() const;                                        // lock held: the queue drops data
  void hurry_probe();                                         // lock held, any thread
  std::chrono::steady_clock::time_point hurried_due() const;  // lock held
  void on_retry_timer(std::uint64_t generation);
  void on_success(batch& b, const exporting::export_outcome& outcome,
                  std::vector<std::shared_ptr<batch>>& resend);  // lock held
  void on_failure(std::shared_ptr<batch> b, const exporting::export_outcome& outcome,
                  bool was_probe);                  // lock held
  void drop(std::uint64_t items, drop_reason why);  // lock held
  void land(const batch& b);                        // lock held: `b` is no longer in flight
  void note_held();             // lock held: after the queue or what is in flight changed
  void push_back(bool on);      // lock held: starts or stops pushing back on intake
  void finish_flush_if_done();  // lock held
  // Nothing more will be sent: what is still held stays where the store keeps it for the next
  // start (records released otherwise), said once in the log.
  void keep_for_next_start(std::uint64_t left);  // lock held
  void warn_store_failure();                     // lock held

  asio::io_context& io_;
  std::shared_ptr<exporting::exporter> exporter_;
  codec::signal signal_;
  lane_settings settings_;
  asio::steady_timer batch_timer_;
  asio::steady_timer retry_timer_;
  asio::steady_timer flush_timer_;

  mutable std::mutex mutex_;
  std::shared_ptr<lane_store> store_;
  drop_oldest_queue queue_;
  retry_gate gate_;
  signal_lane_stats stats_;
  codec::payload_holder holder_;  // what the queue and the batches in flight hold
  bool pump_scheduled_ = false;
  bool timer_armed_ = false;
  // Batches that failed and wait for the upstream to come back. While any waits, one of them at a
  // time probes the upstream after a backoff (gate_), and no new batch is sent.
  std::deque<std::shared_ptr<batch>> waiting_;
  std::uint64_t retry_generation_ = 0;  // a timer expiry from before a re-arm is ignored
  std::chrono::steady_clock::time_point retry_due_{};         // when the armed retry timer expires
  std::chrono::steady_clock::time_point retry_not_before_{};  // the upstream's hint, as a time
  bool hurry_posted_ = false;
  std::chrono::steady_clock::time_point last_warning_{};
  bool flushing_ = false;
  bool stopped_ = false;
  bool kept_logged_ = false;  // its "stays in the spool" line was logged
  std::chrono::steady_clock::time_point last_store_warning_{};
  std::function<void(std::uint64_t)> flush_done_;
};

}  // namespace sidelight::pipeline
