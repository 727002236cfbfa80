// The bytes all lanes hold (queued and in flight), against `queue.memory_limit`. Lanes add and
// release; intake asks over() before accepting a request and refuses it explicitly when the limit
// is reached (gRPC RESOURCE_EXHAUSTED with RetryInfo, HTTP 429 with Retry-After), instead of
// growing or hanging. Thread-safe; lock-free.
#pragma once

#include <atomic>
#include <cstdint>

namespace sidelight::pipeline {

class memory_budget {
 public:
  void set_limit(std::uint64_t bytes) { limit_.store(bytes, std::memory_order_relaxed); }
  void add(std::uint64_t bytes) { held_.fetch_add(static_cast<std::int64_t>(bytes)); }
  void release(std::uint64_t bytes) { held_.fetch_sub(static_cast<std::int64_t>(bytes)); }
  std::int64_t held() const { return held_.load(std::memory_order_relaxed); }
  std::uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  // A limit of 0 means none: the queues' drop-oldest bounds are all there is.
  bool over() const {
    auto limit = limit_.load(std::memory_order_relaxed);
    return limit > 0 && held() >= static_cast<std::int64_t>(limit);
  }

 private:
  std::atomic<std::int64_t> held_{0};
  std::atomic<std::uint64_t> limit_{0};
};

}  // namespace sidelight::pipeline
