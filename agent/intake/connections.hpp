// What the three intake servers share about their clients: a log of bad input that never floods
// (one line per period, saying how many were held back), the connection cap that closes the
// connection idle the longest to make room for a new one, and the budget of bytes connections may
// hold in requests and lines still being read.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sys/log_limiter.hpp"

namespace sidelight::intake {

// Bad input is logged at most every 10 s per server, with the count held back meanwhile. Not
// thread-safe: a server whose connections run on several threads guards its own with a mutex.
using client_warnings = sys::log_limiter;

// With `sessions` at `cap`, closes and forgets the one idle the longest (Session has
// last_active() and close(), both callable from the acceptor's thread); forgets sessions already
// gone. True when it closed one. Sessions may end on their own threads meanwhile, so each is
// locked once here and one that ended counts as gone.
template <typename Session>
bool evict_longest_idle(std::vector<std::weak_ptr<Session>>& sessions, std::size_t cap) {
  std::erase_if(sessions, [](const auto& w) { return w.expired(); });
  if (sessions.size() < cap) return false;
  std::shared_ptr<Session> oldest;
  std::size_t at = 0;
  std::size_t live = 0;
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    auto s = sessions[i].lock();
    if (!s) continue;
    ++live;
    if (!oldest || s->last_active() < oldest->last_active()) {
      oldest = std::move(s);
      at = i;
    }
  }
  if (live < cap) return false;  // one ended meanwhile: there is room
  oldest->close();
  sessions.erase(sessions.begin() + static_cast<std::ptrdiff_t>(at));
  return true;
}

// Bytes that client connections of every door hold in requests and lines still being read, against
// intake.max_buffered_bytes. Each connection has kOwnBuffer of its own, so that ordinary requests
// and lines never wait on what other clients hold; only what a connection holds beyond that comes
// from here. When there is none left, the request or line is refused (and counted) instead of
// grown: without this, 256 connections each part-way through a 4 MiB request held a gigabyte.
// Thread-safe, lock-free.
class buffer_budget {
 public:
  static constexpr std::uint64_t kOwnBuffer = 64 << 10;

  void set_limit(std::uint64_t bytes) { limit_.store(bytes, std::memory_order_relaxed); }
  std::uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  std::uint64_t held() const { return held_.load(std::memory_order_relaxed); }
  // Takes `n` bytes if they fit under the limit (0: no limit); false, taking nothing, if not.
  bool take(std::uint64_t n) {
    auto limit = limit_.load(std::memory_order_relaxed);
    auto now = held_.load(std::memory_order_relaxed);
    do {
      if (limit > 0 && now + n > limit) return false;
    } while (!held_.compare_exchange_weak(now, now + n, std::memory_order_relaxed));
    return true;
  }
  void give(std::uint64_t n) { held_.fetch_sub(n, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> held_{0};
  std::atomic<std::uint64_t> limit_{0};
};

// One connection's share of a buffer_budget, given back when the connection lets its buffer go
// (or is destroyed).
class buffer_lease {
 public:
  explicit buffer_lease(buffer_budget& budget) : budget_(&budget) {}
  buffer_lease(const buffer_lease&) = delete;
  buffer_lease& operator=(const buffer_lease&) = delete;
  ~buffer_lease() { reset(); }

  // Makes sure the connection may hold `total` bytes; false when the budget cannot cover them
  // (what it holds already stays taken).
  bool need(std::uint64_t total) {
    if (total <= buffer_budget::kOwnBuffer + taken_) return true;
    auto more = total - buffer_budget::kOwnBuffer - taken_;
    if (!budget_->take(more)) return false;
    taken_ += more;
    return true;
  }
  void reset() {
    if (taken_ > 0) budget_->give(taken_);
    taken_ = 0;
  }

 private:
  buffer_budget* budget_;
  std::uint64_t taken_ = 0;
};

}  // namespace sidelight::intake
