#include "watch/timeline.hpp"

#include <catch2/catch.hpp>

using namespace sidelight::watch;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kT0 = 1'700'000'000 * kSecond;

}  // namespace

TEST_CASE("timeline: one period per change, the last one up to now", "[timeline]") {
  state_timeline book;
  book.observe(target_state::running, kT0);
  book.observe(target_state::running, kT0 + 5 * kSecond);  // no change: no new period
  book.observe(target_state::down, kT0 + 10 * kSecond);
  book.observe(target_state::running, kT0 + 12 * kSecond);
  auto v = book.view(kT0 + 20 * kSecond);
  REQUIRE(v.size() == 3);
  CHECK(v[0].state == target_state::running);
  CHECK(v[0].start_unix_ns == kT0);
  CHECK(v[0].end_unix_ns == kT0 + 10 * kSecond);
  CHECK(v[1].state == target_state::down);
  CHECK(v[1].end_unix_ns == kT0 + 12 * kSecond);
  CHECK(v[2].state == target_state::running);
  CHECK(v[2].end_unix_ns == kT0 + 20 * kSecond);
}

TEST_CASE("timeline: only the last hour, a period across its start cut there", "[timeline]") {
  state_timeline book;
  book.observe(target_state::down, kT0);
  book.observe(target_state::running, kT0 + 600 * kSecond);
  book.observe(target_state::degraded, kT0 + 3000 * kSecond);
  auto now = kT0 + 4300 * kSecond;  // the window starts at kT0 + 700 s
  auto v = book.view(now);
  REQUIRE(v.size() == 2);
  CHECK(v[0].state == target_state::running);
  CHECK(v[0].start_unix_ns == now - state_timeline::kWindowNs);
  CHECK(v[1].state == target_state::degraded);
  // Hours later the one state still going on covers the whole window.
  auto later = book.view(kT0 + 90'000 * kSecond);
  REQUIRE(later.size() == 1);
  CHECK(later[0].state == target_state::degraded);
  CHECK(later[0].end_unix_ns - later[0].start_unix_ns == state_timeline::kWindowNs);
}

TEST_CASE("timeline: a flapping target keeps its last kCapacity changes", "[timeline]") {
  state_timeline book;
  const std::size_t changes = state_timeline::kCapacity + 36;
  for (std::size_t i = 0; i < changes; ++i) {
    book.observe(i % 2 ? target_state::down : target_state::running,
                 kT0 + static_cast<std::int64_t>(i) * kSecond);
  }
  auto v = book.view(kT0 + 200 * kSecond);
  REQUIRE(v.size() == state_timeline::kCapacity);
  // The oldest kept is change number 36 (running, as every even one); the rest are forgotten.
  CHECK(v.front().start_unix_ns == kT0 + 36 * kSecond);
  CHECK(v.front().state == target_state::running);
  CHECK(v.back().state == target_state::down);
  CHECK(v.back().start_unix_ns == kT0 + static_cast<std::int64_t>(changes - 1) * kSecond);
  for (std::size_t i = 1; i < v.size(); ++i)
    CHECK(v[i].start_unix_ns == v[i - 1].end_unix_ns);
}

TEST_CASE("timeline: a clock stepping back never makes a period end before it starts",
          "[timeline]") {
  state_timeline book;
  book.observe(target_state::running, kT0);
  book.observe(target_state::down, kT0 - 50 * kSecond);
  auto v = book.view(kT0 + kSecond);
  REQUIRE(v.size() == 2);
  for (const auto& p : v)
    CHECK(p.start_unix_ns <= p.end_unix_ns);
  CHECK(v[1].start_unix_ns == kT0);
}

TEST_CASE("timeline: nothing observed, nothing to show", "[timeline]") {
  CHECK(state_timeline().view(kT0).empty());
}

TEST_CASE("timeline: states by name, today's up and down included", "[timeline]") {
  CHECK(parse_target_state("up") == target_state::running);
  CHECK(parse_target_state("crash_loop") == target_state::crash_loop);
  CHECK_FALSE(parse_target_state("sideways"));
  for (auto s : {target_state::running, target_state::degraded, target_state::down,
                 target_state::crash_loop})
    CHECK(parse_target_state(to_string(s)) == s);
}
