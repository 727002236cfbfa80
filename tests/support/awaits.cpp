#include "support/awaits.hpp"

#include <catch2/catch.hpp>

namespace sidelight::test {

std::string config_for(const otlp_receiver& r, const std::string& targets,
                       const std::string& interval) {
  return "heartbeat:\n  interval: " + interval +
         "\n  discovery_interval: 100ms\n"
         "exporters:\n  otlp:\n    endpoint: " +
         r.endpoint() +
         "\n    compression: none\n"
         "    retry: { initial_interval: 100ms, max_interval: 300ms }\n"
         "targets:\n" +
         targets;
}

point require_point(const otlp_receiver& r, const point_filter& f, std::chrono::milliseconds t,
                    const std::string& expected, const std::string& service, const agent& a,
                    std::chrono::steady_clock::time_point since) {
  auto p = r.wait_for_after(since, f, bound(t));
  if (!p) {
    FAIL("timed out after " << bound(t).count() << " ms waiting for " << expected << "\n"
                            << r.dump(service) << "agent log:\n"
                            << a.log());
  }
  return *p;
}

}  // namespace sidelight::test
