// What the three intake servers share about their clients: a log of bad input that never floods
// (one line per period, saying how many were held back), and the connection cap that closes the
// connection idle the longest to make room for a new one.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "sys/log_limiter.hpp"

namespace sidelight::intake {

// Bad input is logged at most every 10 s per server, with the count held back meanwhile. Not
// thread-safe: each server uses its own from one thread.
using client_warnings = sys::log_limiter;

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
