// What tests of watched targets share: a config that exports to the test's receiver with short
// retries, and awaiting one point with a bound, failing with what did arrive and the agent's log.
#pragma once

#include <chrono>
#include <string>

#include "support/harness.hpp"
#include "support/otlp_receiver.hpp"

namespace sidelight::test {

// `targets` (YAML list items) watched with `interval`, exported to `r`.
std::string config_for(const otlp_receiver& r, const std::string& targets,
                       const std::string& interval = "60s");

point require_point(
    const otlp_receiver& r, const point_filter& f, std::chrono::milliseconds t,
    const std::string& expected, const std::string& service, const agent& a,
    std::chrono::steady_clock::time_point since = std::chrono::steady_clock::time_point::min());

}  // namespace sidelight::test
