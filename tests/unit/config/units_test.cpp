#include "config/units.hpp"

#include <catch2/catch.hpp>

using namespace sidelight::config;
using namespace std::chrono_literals;

TEST_CASE("durations parse in every unit and in sequences", "[units]") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("15s") == 15s);
  CHECK(parse_duration("2m") == 2min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("1m30s") == 90s);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("10us") == 10us);
  CHECK(parse_duration("7ns") == 7ns);
  CHECK(parse_duration("0") == 0ns);
}

TEST_CASE("malformed durations are refused", "[units]") {
  for (const char* bad : {"", "15", "s", "-1s", "15 s", "15sec", "1.s5", "fast", "1e3s", "ms"}) {
    INFO("input: '" << bad << "'");
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

TEST_CASE("sizes parse with decimal and binary units", "[units]") {
  CHECK(parse_size("1024") == 1024u);
  CHECK(parse_size("64MiB") == 64ull << 20);
  CHECK(parse_size("512KiB") == 512ull << 10);
  CHECK(parse_size("1GiB") == 1ull << 30);
  CHECK(parse_size("1KB") == 1000u);
  CHECK(parse_size("3MB") == 3000000u);
  CHECK(parse_size("10B") == 10u);
  CHECK(parse_size("1.5KiB") == 1536u);
  CHECK(parse_size("4.8MiB") == 5033165u);  // fractions round to the nearest byte
}

TEST_CASE("malformed sizes are refused", "[units]") {
  for (const char* bad : {"", "MiB", "-1MiB", "12 parsecs", "64mib?", "1.5.5MiB"}) {
    INFO("input: '" << bad << "'");
    CHECK_FALSE(parse_size(bad).has_value());
  }
}

TEST_CASE("durations and sizes format back readably", "[units]") {
  CHECK(format_duration(15s) == "15s");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_size(64ull << 20) == "64MiB");
  // Found by fuzz_units: what format_size prints must parse again.
  CHECK(parse_size(format_size(5'000'000)).has_value());
}
