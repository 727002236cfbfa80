// The watchdog's bookkeeping (app/watchdog.hpp): when systemd asks for it, and when a round of
// probes counts as answered.
#include "app/watchdog.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

using namespace sidelight;

TEST_CASE("the watchdog timeout comes from WATCHDOG_USEC when WATCHDOG_PID is ours", "[watchdog]") {
  using std::chrono::microseconds;
  auto self = std::to_string(::getpid());
  CHECK(app::watchdog_timeout_from("30000000", nullptr) == microseconds(30000000));
  CHECK(app::watchdog_timeout_from("30000000", self.c_str()) == microseconds(30000000));
  CHECK(app::watchdog_timeout_from("30000000", "1") == microseconds(0));  // another process's
  CHECK(app::watchdog_timeout_from(nullptr, nullptr) == microseconds(0));
  CHECK(app::watchdog_timeout_from("0", nullptr) == microseconds(0));
  CHECK(app::watchdog_timeout_from("30s", nullptr) == microseconds(0));
}

TEST_CASE("a watchdog round is answered once every expected part answered", "[watchdog]") {
  auto round = std::make_shared<app::watchdog_round>();
  auto loop = round->expect("event loop");
  auto http = round->expect("exporter otlp/http");
  CHECK_FALSE(round->answered());
  CHECK(round->waiting_for() == "event loop, exporter otlp/http");
  http();
  CHECK(round->waiting_for() == "event loop");
  http();  // a second answer from the same part changes nothing
  CHECK_FALSE(round->answered());
  loop();
  CHECK(round->answered());
}
