// A FIFO of encoded telemetry chunks bounded in bytes (and optionally in items and in chunks, the
// latter for a spooled lane's in-memory index). When a push would go over a bound, the oldest
// chunks leave first and are reported back so the caller can count them. Not thread-safe: the
// lane that owns it holds the lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "codec/payload.hpp"
#include "pipeline/spool.hpp"

namespace sidelight::pipeline {

// What a chunk in memory costs beyond its bytes, counted against the byte bound so that a flood of
// tiny chunks cannot hold several times `max_bytes`: its queue entry (48 bytes), the payload's
// string and shared_ptr control block (64, one allocation), and malloc's headers and rounding of
// that block and of the bytes' own (up to 32).
inline constexpr std::uint64_t kChunkOverhead = 144;

// One or more length-delimited `resource_spans` / `resource_logs` / `resource_metrics` fields
// (field 1 of the Export*ServiceRequest), so that chunks joined end to end are a request.
struct chunk {
  codec::payload_ptr bytes;  // null once the chunk lives in a spool only
  std::uint32_t items = 0;   // spans, log records or metric data points
  std::chrono::steady_clock::time_point enqueued{};
  std::shared_ptr<spool_record> spooled;  // its record, when the lane has a spool
  std::size_t size() const { return bytes ? bytes->size() : spooled ? spooled->length() : 0; }
  // What the queue counts against its byte bound: the bytes, and the overhead of holding them in
  // memory (a spooled lane bounds its entries by count instead).
  std::uint64_t held() const { return size() + (bytes ? kChunkOverhead : 0); }
};

class drop_oldest_queue {
 public:
  drop_oldest_queue(std::uint64_t max_bytes, std::uint64_t max_items, std::uint64_t max_chunks = 0)
      : max_bytes_(max_bytes), max_items_(max_items), max_chunks_(max_chunks) {}

  struct dropped {
    std::uint64_t items = 0;
    std::uint64_t bytes = 0;
    std::uint64_t chunks = 0;
  };

  // Appends `c`, then drops the oldest chunks until the bounds hold again, counting `reserved`
  // bytes (held elsewhere, such as in flight) against the byte bound. A chunk bigger than the
  // whole queue is itself dropped.
  dropped push(chunk c, std::uint64_t reserved = 0);

  // Takes chunks from the front while the batch stays within `max_items` and `max_bytes` (of
  // encoded bytes: a request's size); always at least one chunk when the queue is not empty, so an
  // oversized chunk still leaves.
  std::vector<chunk> pop_batch(std::uint64_t max_items, std::uint64_t max_bytes);

  // Empties the queue, returning what was in it.
  dropped clear();
  // Marks every spooled chunk's record to stay on disk for the next start.
  void keep_spooled() {
    for (auto& c : chunks_)
      if (c.spooled) c.spooled->keep();
  }

  // True once a bound is three quarters reached (`reserved` counted as in push()): a lane that
  // pushes back on intake does so from here, and the last quarter takes what intake admitted
  // before it heard, so that nothing is dropped for it.
  bool nearly_full(std::uint64_t reserved) const {
    auto high = [](std::uint64_t max) { return max - max / 4; };
    return bytes_ + reserved >= high(max_bytes_) ||
           (max_items_ > 0 && items_ >= high(max_items_)) ||
           (max_chunks_ > 0 && chunks_.size() >= high(max_chunks_));
  }

  bool empty() const { return chunks_.empty(); }
  std::uint64_t bytes() const { return bytes_; }  // held(), summed
  std::uint64_t items() const { return items_; }
  const chunk& front() const { return chunks_.front(); }

 private:
  bool over(std::uint64_t reserved) const {
    return bytes_ + reserved > max_bytes_ || (max_items_ > 0 && items_ > max_items_) ||
           (max_chunks_ > 0 && chunks_.size() > max_chunks_);
  }
  void pop_front(dropped& d);

  std::uint64_t max_bytes_;
  std::uint64_t max_items_;
  std::uint64_t max_chunks_;
  std::deque<chunk> chunks_;
  std::uint64_t bytes_ = 0;
  std::uint64_t items_ = 0;
};

}  // namespace sidelight::pipeline
