#include "watch/liveness_state.hpp"

#include <catch2/catch.hpp>

using namespace sidelight::watch;

namespace {
const process_identity kFirst{100, 5000};
const process_identity kReused{100, 9000};  // same PID, later start: another process
const process_identity kSecond{200, 9100};
}  // namespace

TEST_CASE("a target seen up first reports up, then nothing while unchanged", "[liveness]") {
  liveness_state s(liveness_state::policy::follow);
  CHECK_FALSE(s.known());
  CHECK(s.observe_up(kFirst, 111) == change::up);
  CHECK(s.up());
  CHECK(s.up_since_unix_ns() == 111);
  CHECK(s.observe_up(kFirst, 111) == change::none);
  CHECK(s.restarts() == 0);
}

TEST_CASE("a target seen down first reports down once", "[liveness]") {
  liveness_state s(liveness_state::policy::follow);
  CHECK(s.observe_down("no pidfile") == change::down);
  CHECK(s.known());
  CHECK_FALSE(s.up());
  CHECK(s.reason() == "no pidfile");
  CHECK(s.observe_down("no pidfile") == change::none);
}

TEST_CASE("down then a new process is a restart, counted once", "[liveness]") {
  liveness_state s(liveness_state::policy::follow);
  s.observe_up(kFirst, 1);
  CHECK(s.observe_down("exited") == change::down);
  CHECK(s.observe_up(kSecond, 2) == change::restart);
  CHECK(s.restarts() == 1);
  CHECK(s.up_since_unix_ns() == 2);
  CHECK(s.observe_up(kSecond, 2) == change::none);
  CHECK(s.restarts() == 1);
}

TEST_CASE("a new process without a down in between is a restart", "[liveness]") {
  liveness_state s(liveness_state::policy::follow);
  s.observe_up(kFirst, 1);
  CHECK(s.observe_up(kSecond, 2) == change::restart);
  CHECK(s.restarts() == 1);
}

TEST_CASE("the same PID with a new start time is a restart, not the same process", "[liveness]") {
  liveness_state s(liveness_state::policy::follow);
  s.observe_up(kFirst, 1);
  CHECK(s.observe_up(kReused, 3) == change::restart);
  CHECK(s.process() == kReused);
}

TEST_CASE("the same process serving again after a down is up, not a restart", "[liveness]") {
  liveness_state s(liveness_state::policy::follow);
  s.observe_up(kFirst, 1);
  s.observe_down("listener closed");
  CHECK(s.observe_up(kFirst, 1) == change::up);
  CHECK(s.restarts() == 0);
}

TEST_CASE("a pinned slot never adopts a process that reuses its PID", "[liveness]") {
  liveness_state s(liveness_state::policy::pinned);
  CHECK(s.observe_up(kFirst, 1) == change::up);
  CHECK(s.is_stranger(kReused));
  CHECK_FALSE(s.is_stranger(kFirst));
  CHECK(s.observe_up(kReused, 5) == change::down);
  CHECK_FALSE(s.up());
  CHECK(s.observe_up(kReused, 5) == change::none);
  CHECK(s.restarts() == 0);
}

TEST_CASE("an owner learned later is not a restart", "[liveness]") {
  liveness_state s(liveness_state::policy::follow);
  CHECK(s.observe_up(std::nullopt, 0) == change::up);
  CHECK(s.observe_up(kFirst, 7) == change::none);
  CHECK(s.up_since_unix_ns() == 7);
  CHECK(s.restarts() == 0);
}
