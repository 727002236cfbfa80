#include "admin/timeline.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin/render.hpp"

using namespace sidelight::admin;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kT0 = 1'700'000'000 * kSecond;

}  // namespace

TEST_CASE("timeline: one period per change, the last one up to now", "[timeline]") {
  timeline_book book;
  book.observe("web", target_state::running, kT0);
  book.observe("web", target_state::running, kT0 + 5 * kSecond);  // no change: no new period
  book.observe("web", target_state::down, kT0 + 10 * kSecond);
  book.observe("web", target_state::running, kT0 + 12 * kSecond);
  auto v = book.view(kT0 + 20 * kSecond);
  REQUIRE(v.size() == 1);
  CHECK(v[0].target == "web");
  REQUIRE(v[0].periods.size() == 3);
  CHECK(v[0].periods[0].state == target_state::running);
  CHECK(v[0].periods[0].start_unix_ns == kT0);
  CHECK(v[0].periods[0].end_unix_ns == kT0 + 10 * kSecond);
  CHECK(v[0].periods[1].state == target_state::down);
  CHECK(v[0].periods[1].end_unix_ns == kT0 + 12 * kSecond);
  CHECK(v[0].periods[2].state == target_state::running);
  CHECK(v[0].periods[2].end_unix_ns == kT0 + 20 * kSecond);
}

TEST_CASE("timeline: only the last hour, a period across its start cut there", "[timeline]") {
  timeline_book book;
  book.observe("db", target_state::down, kT0);
  book.observe("db", target_state::running, kT0 + 600 * kSecond);
  book.observe("db", target_state::degraded, kT0 + 3000 * kSecond);
  auto now = kT0 + 4300 * kSecond;  // the window starts at kT0 + 700 s
  auto v = book.view(now);
  REQUIRE(v[0].periods.size() == 2);
  CHECK(v[0].periods[0].state == target_state::running);
  CHECK(v[0].periods[0].start_unix_ns == now - timeline_book::kWindowNs);
  CHECK(v[0].periods[1].state == target_state::degraded);
  // Hours later the one state still going on covers the whole window.
  auto later = book.view(kT0 + 90'000 * kSecond);
  REQUIRE(later[0].periods.size() == 1);
  CHECK(later[0].periods[0].state == target_state::degraded);
  CHECK(later[0].periods[0].end_unix_ns - later[0].periods[0].start_unix_ns ==
        timeline_book::kWindowNs);
}

TEST_CASE("timeline: a flapping target keeps its last kCapacity changes", "[timeline]") {
  timeline_book book;
  const std::size_t changes = timeline_book::kCapacity + 36;
  for (std::size_t i = 0; i < changes; ++i) {
    book.observe("flap", i % 2 ? target_state::down : target_state::running,
                 kT0 + static_cast<std::int64_t>(i) * kSecond);
  }
  auto v = book.view(kT0 + 200 * kSecond);
  REQUIRE(v[0].periods.size() == timeline_book::kCapacity);
  // The oldest kept is change number 36 (running, as every even one); the rest are forgotten.
  CHECK(v[0].periods.front().start_unix_ns == kT0 + 36 * kSecond);
  CHECK(v[0].periods.front().state == target_state::running);
  CHECK(v[0].periods.back().state == target_state::down);
  CHECK(v[0].periods.back().start_unix_ns ==
        kT0 + static_cast<std::int64_t>(changes - 1) * kSecond);
  for (std::size_t i = 1; i < v[0].periods.size(); ++i)
    CHECK(v[0].periods[i].start_unix_ns == v[0].periods[i - 1].end_unix_ns);
}

TEST_CASE("timeline: a clock stepping back never makes a period end before it starts",
          "[timeline]") {
  timeline_book book;
  book.observe("web", target_state::running, kT0);
  book.observe("web", target_state::down, kT0 - 50 * kSecond);
  auto v = book.view(kT0 + kSecond);
  REQUIRE(v[0].periods.size() == 2);
  for (const auto& p : v[0].periods)
    CHECK(p.start_unix_ns <= p.end_unix_ns);
  CHECK(v[0].periods[1].start_unix_ns == kT0);
}

TEST_CASE("timeline: targets the configuration dropped are forgotten", "[timeline]") {
  timeline_book book;
  book.observe("a", target_state::running, kT0);
  book.observe("b", target_state::crash_loop, kT0);
  book.retain({"b", "c"});
  auto v = book.view(kT0 + kSecond);
  REQUIRE(v.size() == 1);
  CHECK(v[0].target == "b");
}

TEST_CASE("timeline: states by name, today's up and down included", "[timeline]") {
  CHECK(parse_target_state("up") == target_state::running);
  CHECK(parse_target_state("crash_loop") == target_state::crash_loop);
  CHECK_FALSE(parse_target_state("sideways"));
  for (auto s : {target_state::running, target_state::degraded, target_state::down,
                 target_state::crash_loop})
    CHECK(parse_target_state(to_string(s)) == s);
}

TEST_CASE("timeline: in /api/v1/status's JSON and back", "[timeline]") {
  timeline_book book;
  book.observe("we<b>", target_state::running, kT0);
  book.observe("we<b>", target_state::down, kT0 + 10 * kSecond);
  status_snapshot s;
  s.version = "1";
  s.now_unix_ns = kT0 + 30 * kSecond;
  s.timeline = book.view(s.now_unix_ns);
  auto j = nlohmann::json::parse(to_json(s));
  CHECK(j["timeline"]["window_seconds"] == 3600);
  CHECK(j["timeline"]["targets"][0]["target"] == "we<b>");
  CHECK(j["timeline"]["targets"][0]["state"] == "down");
  CHECK(j["timeline"]["targets"][0]["periods"][1]["start_unix_nano"] == kT0 + 10 * kSecond);
  status_snapshot back;
  REQUIRE(from_json(to_json(s), back).empty());
  REQUIRE(back.timeline.size() == 1);
  CHECK(back.timeline[0].periods.size() == 2);
  CHECK(back.timeline[0].periods[1].state == target_state::down);
  // A status document from before the timeline existed still reads.
  j.erase("timeline");
  REQUIRE(from_json(j.dump(), back).empty());
  CHECK(back.timeline.empty());
  j["timeline"] = {{"targets", {{{"target", "x"}, {"periods", {{{"state", "sideways"}}}}}}}};
  CHECK_FALSE(from_json(j.dump(), back).empty());
}
