#include "pipeline/retry_gate.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using sidelight::pipeline::retry_gate;

namespace {
sidelight::config::retry_settings retry_of(std::chrono::milliseconds initial,
                                           std::chrono::milliseconds max) {
  sidelight::config::retry_settings r;
  r.initial_interval = initial;
  r.max_interval = max;
  return r;
}
}  // namespace

TEST_CASE("retry gate: a failure closes it until a probe succeeds", "[retry-gate]") {
  retry_gate g(retry_of(1000ms, 30000ms));
  CHECK(g.open());
  CHECK(g.upstream_ok());
  g.failing();
  auto delay = g.schedule(std::nullopt, false);
  REQUIRE(delay);
  CHECK(*delay >= 500ms);  // jitter: half to all of the first interval
  CHECK(*delay <= 1000ms);
  CHECK(g.waiting());
  CHECK_FALSE(g.upstream_ok());
  // Another failure meanwhile: the probe is already scheduled.
  CHECK_FALSE(g.schedule(std::nullopt, false));
  g.probe();
  CHECK(g.probing());
  CHECK(g.succeeded());  // it was failing: it is back
  CHECK(g.open());
  CHECK(g.upstream_ok());
  CHECK_FALSE(g.succeeded());  // already up
}

TEST_CASE("retry gate: each failed probe waits longer, up to max_interval", "[retry-gate]") {
  retry_gate g(retry_of(100ms, 400ms));
  std::chrono::nanoseconds last{0};
  for (int i = 0; i < 6; ++i) {
    g.failing();
    auto d = g.schedule(std::nullopt, false);
    REQUIRE(d);
    CHECK(*d <= 400ms);
    last = *d;
    g.probe();
  }
  CHECK(last >= 200ms);  // the ceiling reached: half of 400 ms at least
  // A success starts the backoff again.
  g.succeeded();
  g.failing();
  CHECK(*g.schedule(std::nullopt, false) <= 100ms);
}

TEST_CASE("retry gate: an upstream's hint is waited for, and flushing hurries", "[retry-gate]") {
  retry_gate g(retry_of(100ms, 30000ms));
  g.failing();
  CHECK(*g.schedule(5000ms, false) == 5000ms);
  g.probe();
  g.failing();
  CHECK(*g.schedule(5000ms, true) == 200ms);
}

TEST_CASE("retry gate: while data is dropped, probes go at least every 250 ms", "[retry-gate]") {
  retry_gate g(retry_of(1000ms, 30000ms));
  // Grown past a second while nothing was lost...
  std::chrono::nanoseconds grown{};
  for (int i = 0; i < 4; ++i) {
    g.failing();
    grown = *g.schedule(std::nullopt, false);
    g.probe();
  }
  CHECK(grown > retry_gate::kLosingRetry);
  // ...it stops at 250 ms once the queue drops, but an upstream's own hint still wins.
  g.failing();
  CHECK(*g.schedule(std::nullopt, false, true) <= retry_gate::kLosingRetry);
  g.probe();
  g.failing();
  CHECK(*g.schedule(5000ms, false, true) == 5000ms);
}

TEST_CASE("retry gate: a refusal for good reopens it without saying the upstream is back",
          "[retry-gate]") {
  retry_gate g(retry_of(100ms, 1000ms));
  g.failing();
  g.schedule(std::nullopt, false);
  g.probe();
  g.refused();
  CHECK(g.open());
  CHECK_FALSE(g.upstream_ok());
  g.reopen();
  CHECK(g.open());
}
