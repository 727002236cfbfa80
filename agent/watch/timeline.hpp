// A target's state over the last hour, for the status page's timeline: the watcher notes the
// target's state whenever one of its instances changes, and keeps a small ring of the moments the
// state changed. A view clips those changes to the window into periods (running, degraded, down,
// crash_loop). The ring is bounded (kCapacity changes), so a target that flaps all hour costs the
// same memory as a quiet one, and only its oldest periods are forgotten; time before the oldest
// kept change, or before sidelight started, is simply not shown.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace sidelight::watch {

enum class target_state : std::uint8_t { running, degraded, down, crash_loop };

std::string_view to_string(target_state s);
// Reads a target-level state, or an instance's "up" (running) or "down"; nullopt for anything else.
std::optional<target_state> parse_target_state(std::string_view s);

struct timeline_period {
  target_state state = target_state::down;
  std::int64_t start_unix_ns = 0;
  std::int64_t end_unix_ns = 0;  // the view's `now` for the period still going on
};

class state_timeline {
 public:
  static constexpr std::size_t kCapacity = 64;
  static constexpr std::int64_t kWindowNs = 3600LL * 1'000'000'000;

  // Notes the state at `now`; a state unlike the last one opens a new period. A time before the
  // last change (the wall clock stepped back) counts as that change's time.
  void observe(target_state state, std::int64_t now_unix_ns);
  // The periods of the window ending at `now`, oldest first; empty before any observation.
  std::vector<timeline_period> view(std::int64_t now_unix_ns) const;

 private:
  struct change {
    std::int64_t at_unix_ns = 0;
    target_state state = target_state::down;
  };
  // The last kCapacity changes, oldest at `head_` once full. It grows as changes come, so a
  // target that never changes holds one.
  const change& at(std::size_t i) const { return changes_[(head_ + i) % changes_.size()]; }

  std::vector<change> changes_;
  std::size_t head_ = 0;
};

}  // namespace sidelight::watch
