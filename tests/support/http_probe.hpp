// A health probe as Kubernetes or a load balancer makes one: a fresh connection, one GET, an
// answer awaited within a bound.
#pragma once

#include <chrono>
#include <string>

namespace sidelight::test {

// The HTTP status of GET `target` at `address` ("unix:/path" or "HOST:PORT"); 0 when nothing
// complete came back within `timeout` (connection refused or closed, or too slow).
int http_get_status(const std::string& address, const std::string& target,
                    std::chrono::milliseconds timeout);

}  // namespace sidelight::test
