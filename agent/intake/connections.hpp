// What the three intake servers share about their clients: a log of bad input that never floods
// (one line per period, saying how many were held back), and the connection cap that closes the
// connection idle the longest to make room for a new one.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sidelight::intake {

// Not thread-safe: each server uses its own from one thread.
class client_warnings {
 public:
  explicit client_warnings(std::chrono::steady_clock::duration every = std::chrono::seconds(10))
      : every_(every) {}

  // True when a line about `count` more problems may be logged now; held_back() then says how
  // many went unlogged since the last line (and resets).
  bool allow(std::uint64_t count = 1) {
    auto now = std::chrono::steady_clock::now();
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

 private:
  std::chrono::steady_clock::duration every_;
  std::chrono::steady_clock::time_point last_{};
  bool logged_ = false;
  std::uint64_t suppressed_ = 0;
};

// With `sessions` at `cap`, closes and forgets the one idle the longest (Session has
// last_active() and close()); forgets sessions already gone. True when it closed one.
template <typename Session>
bool evict_longest_idle(std::vector<std::weak_ptr<Session>>& sessions, std::size_t cap) {
  std::erase_if(sessions, [](const auto& w) { return w.expired(); });
  if (sessions.size() < cap) return false;
  auto oldest =
      std::min_element(sessions.begin(), sessions.end(), [](const auto& a, const auto& b) {
        return a.lock()->last_active() < b.lock()->last_active();
      });
  oldest->lock()->close();
  sessions.erase(oldest);
  return true;
}

}  // namespace sidelight::intake
