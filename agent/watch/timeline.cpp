#include "watch/timeline.hpp"

#include <algorithm>

namespace sidelight::watch {

std::string_view to_string(target_state s) {
  switch (s) {
    case target_state::running:
      return "running";
    case target_state::degraded:
      return "degraded";
    case target_state::down:
      return "down";
    case target_state::crash_loop:
      return "crash_loop";
  }
  return "down";
}

std::optional<target_state> parse_target_state(std::string_view s) {
  if (s == "running" || s == "up") return target_state::running;
  if (s == "degraded") return target_state::degraded;
  if (s == "down") return target_state::down;
  if (s == "crash_loop") return target_state::crash_loop;
  return std::nullopt;
}

void state_timeline::observe(target_state state, std::int64_t now_unix_ns) {
  if (!changes_.empty()) {
    const auto& last = at(changes_.size() - 1);
    if (last.state == state) return;
    now_unix_ns = std::max(now_unix_ns, last.at_unix_ns);
  }
  if (changes_.size() < kCapacity) {
    changes_.push_back({now_unix_ns, state});
    return;
  }
  changes_[head_] = {now_unix_ns, state};
  head_ = (head_ + 1) % kCapacity;
}

std::vector<timeline_period> state_timeline::view(std::int64_t now_unix_ns) const {
  std::vector<timeline_period> out;
  const std::int64_t from = now_unix_ns - kWindowNs;
  for (std::size_t i = 0; i < changes_.size(); ++i) {
    const auto& c = at(i);
    std::int64_t end = i + 1 < changes_.size() ? at(i + 1).at_unix_ns : now_unix_ns;
    end = std::min(end, now_unix_ns);
    if (end <= from && i + 1 < changes_.size()) continue;  // wholly before the window
    out.push_back({c.state, std::clamp(c.at_unix_ns, from, end), end});
  }
  return out;
}

}  // namespace sidelight::watch
