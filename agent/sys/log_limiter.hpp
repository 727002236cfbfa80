// A log line about something a peer or a file keeps doing (bad input, a pidfile that is a FIFO,
// processes exiting by the thousand) must not flood the log: at most one line per period, the
// next one saying how many were held back meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sidelight::sys {

// Not thread-safe: each user has its own, used from one thread.
class log_limiter {
 public:
  using clock = std::chrono::steady_clock;

  explicit log_limiter(clock::duration every = std::chrono::seconds(10)) : every_(every) {}

  // True when a line about `count` more events may be logged now; held_back() then says how
  // many went unlogged since the last line (and resets).
  bool allow(std::uint64_t count = 1) {
    auto now = clock::now();
    if (logged_ && now - last_ < every_) {
      suppressed_ += count;
      return false;
    }
    logged_ = true;
    last_ = now;
    return true;
  }
  // " (N more since the last report)", or "".
  std::string held_back() {
    std::string text;
    if (suppressed_ > 0) text = " (" + std::to_string(suppressed_) + " more since the last report)";
    suppressed_ = 0;
    return text;
  }
  // Events not logged since the last line.
  std::uint64_t suppressed() const { return suppressed_; }
  // When the next line may be logged (now, or in the past, when it may be logged at once).
  clock::time_point next_allowed() const { return logged_ ? last_ + every_ : clock::now(); }

 private:
  clock::duration every_;
  clock::time_point last_{};
  bool logged_ = false;
  std::uint64_t suppressed_ = 0;
};

}  // namespace sidelight::sys
