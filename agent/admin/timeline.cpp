#include "admin/timeline.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace sidelight::admin {

using nlohmann::json;

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

void timeline_book::ring::push(change c) {
  if (changes.size() < kCapacity) {
    changes.push_back(c);
    return;
  }
  changes[head] = c;
  head = (head + 1) % kCapacity;
}

void timeline_book::observe(const std::string& target, target_state state,
                            std::int64_t now_unix_ns) {
  auto& r = rings_[target];
  if (r.size() > 0) {
    const auto& last = r.last();
    if (last.state == state) return;
    now_unix_ns = std::max(now_unix_ns, last.at_unix_ns);
  }
  r.push({now_unix_ns, state});
}

void timeline_book::retain(const std::vector<std::string>& targets) {
  std::erase_if(rings_, [&](const auto& entry) {
    return std::find(targets.begin(), targets.end(), entry.first) == targets.end();
  });
}

std::vector<target_timeline> timeline_book::view(std::int64_t now_unix_ns) const {
  std::vector<target_timeline> out;
  const std::int64_t from = now_unix_ns - kWindowNs;
  for (const auto& [target, r] : rings_) {
    target_timeline t;
    t.target = target;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const auto& c = r.at(i);
      std::int64_t end = i + 1 < r.size() ? r.at(i + 1).at_unix_ns : now_unix_ns;
      end = std::min(end, now_unix_ns);
      if (end <= from && i + 1 < r.size()) continue;  // wholly before the window
      t.periods.push_back({c.state, std::clamp(c.at_unix_ns, from, end), end});
    }
    out.push_back(std::move(t));
  }
  return out;
}

json timeline_to_json(const std::vector<target_timeline>& timelines) {
  json targets = json::array();
  for (const auto& t : timelines) {
    json periods = json::array();
    for (const auto& p : t.periods) {
      periods.push_back({{"state", to_string(p.state)},
                         {"start_unix_nano", p.start_unix_ns},
                         {"end_unix_nano", p.end_unix_ns}});
    }
    targets.push_back({{"target", t.target},
                       {"state", t.periods.empty() ? "down" : to_string(t.periods.back().state)},
                       {"periods", std::move(periods)}});
  }
  return {{"window_seconds", timeline_book::kWindowNs / 1'000'000'000},
          {"targets", std::move(targets)}};
}

std::vector<target_timeline> timeline_from_json(const json& j) {
  std::vector<target_timeline> out;
  if (j.is_null()) return out;
  for (const auto& x : j.at("targets")) {
    target_timeline t;
    t.target = x.at("target").get<std::string>();
    for (const auto& p : x.at("periods")) {
      auto state = parse_target_state(p.at("state").get<std::string>());
      if (!state) throw json::other_error::create(501, "unknown timeline state", &p);
      t.periods.push_back({*state, p.at("start_unix_nano").get<std::int64_t>(),
                           p.at("end_unix_nano").get<std::int64_t>()});
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace sidelight::admin
