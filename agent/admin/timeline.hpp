// Each target's state over the last hour, for the status page's timeline: the agent notes a
// target's state whenever one of its instances changes, and the book keeps, per target, a small
// ring of the moments the state changed. A view clips those changes to the window into periods
// (running, degraded, down, crash_loop). The ring is bounded (kCapacity changes a target), so a
// target that flaps all hour costs the same memory as a busy one, and only its oldest periods are
// forgotten; time before the oldest kept change, or before sidelight started, is simply not shown.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sidelight::admin {

enum class target_state : std::uint8_t { running, degraded, down, crash_loop };

std::string_view to_string(target_state s);
// Reads a target-level state, or an instance's "up" (running) or "down"; nullopt for anything else.
std::optional<target_state> parse_target_state(std::string_view s);

struct timeline_period {
  target_state state = target_state::down;
  std::int64_t start_unix_ns = 0;
  std::int64_t end_unix_ns = 0;  // the view's `now` for the period still going on
};

struct target_timeline {
  std::string target;
  std::vector<timeline_period> periods;  // oldest first, within the window, never empty
};

class timeline_book {
 public:
  static constexpr std::size_t kCapacity = 64;
  static constexpr std::int64_t kWindowNs = 3600LL * 1'000'000'000;

  // Notes `target`'s state at `now`; a state unlike the last one opens a new period. A time
  // before the last change (the wall clock stepped back) counts as that change's time.
  void observe(const std::string& target, target_state state, std::int64_t now_unix_ns);
  // Forgets every target not named (the configuration no longer has it).
  void retain(const std::vector<std::string>& targets);
  // The periods of the window ending at `now`, per target in name order.
  std::vector<target_timeline> view(std::int64_t now_unix_ns) const;

 private:
  struct change {
    std::int64_t at_unix_ns = 0;
    target_state state = target_state::down;
  };
  // The last kCapacity changes, oldest at `head` once full. It grows as changes come, so a
  // target that never changes holds one.
  struct ring {
    std::vector<change> changes;
    std::size_t head = 0;
    std::size_t size() const { return changes.size(); }
    const change& at(std::size_t i) const { return changes[(head + i) % changes.size()]; }
    const change& last() const { return at(changes.size() - 1); }
    void push(change c);
  };
  std::map<std::string, ring, std::less<>> rings_;
};

// /api/v1/status's "timeline": {"window_seconds": 3600, "targets": [{"target", "state",
// "periods": [{"state", "start_unix_nano", "end_unix_nano"}]}]}.
nlohmann::json timeline_to_json(const std::vector<target_timeline>& timelines);
// Reads what timeline_to_json wrote (an absent or null value is no timeline); throws
// nlohmann::json::exception on a malformed one.
std::vector<target_timeline> timeline_from_json(const nlohmann::json& j);

}  // namespace sidelight::admin
