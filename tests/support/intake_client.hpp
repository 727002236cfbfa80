// Clients of sidelight's intake for the integration tests: raw OTLP/gRPC and OTLP/HTTP requests
// over its Unix sockets, NDJSON writers, and readers of its admin status.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "support/harness.hpp"

namespace sidelight::test {

// An ExportTraceServiceRequest of `spans` spans named `name`, service.name `service`.
std::string traces_request(const std::string& name, int spans,
                           const std::string& service = "good-client");

// One unary OTLP/gRPC call with `bytes` as the request, over unix:`socket`, on a connection of
// its own.
grpc::Status grpc_export(
    const std::string& socket, const std::string& bytes,
    const std::string& method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    bool gzip = false);

struct http_result {
  unsigned status = 0;
  std::string body;
};
http_result http_post(const std::string& socket, const std::string& target,
                      const std::string& content_type, const std::string& body);

// GET `target` over unix:`socket` (the admin endpoint), bounded in time.
http_result http_get(const std::string& socket, const std::string& target);
// Writes `request` raw over unix:`socket`, then reads what comes back until the server closes
// or `timeout` passes (at most 1 MiB is kept).
std::string raw_exchange(const std::string& socket, const std::string& request,
                         std::chrono::milliseconds timeout);

int connect_unix(const std::string& path);  // -1 when it cannot connect
// Reads from `fd` until `text` was seen, the peer closed, or `timeout` passed; what was read.
std::string read_until(int fd, const std::string& text, std::chrono::milliseconds timeout);
void send_all(int fd, const std::string& data);
// Connects, writes `text`, closes.
void ndjson_send(const std::string& socket, const std::string& text);
std::string garbage(std::size_t n);  // the same n random bytes every time
// True in the sanitizer builds (SIDELIGHT_TEST_TIME_SCALE above 1), where everything runs several
// times slower: a test scales its load down there (what it checks of memory is not checked).
bool sanitized();
long rss_kib(pid_t pid);
// Whether `pid`'s RSS is under `kib`. Always true in sanitizer builds (SIDELIGHT_TEST_TIME_SCALE
// above 1), where shadow memory and ASan's quarantine make RSS say nothing about the agent.
bool rss_below(pid_t pid, long kib);
// The same for the peak RSS so far (VmHWM): what a burst cost, even once it was given back.
long peak_rss_kib(pid_t pid);
bool peak_rss_below(pid_t pid, long kib);

// The agent's /api/v1/status, through `sidelight status --json`.
nlohmann::json status_of(const temp_dir& dir, const agent& a);
nlohmann::json intake_of(const nlohmann::json& status, const std::string& protocol);
nlohmann::json lane_of(const nlohmann::json& status, const std::string& exporter,
                       const std::string& signal);
// Polls the agent's status (its counters give no event to await) until `done` holds or `timeout`
// passes; returns the last status read either way, for the test's checks and messages.
nlohmann::json wait_status(const temp_dir& dir, const agent& a,
                           const std::function<bool(const nlohmann::json&)>& done,
                           std::chrono::milliseconds timeout);
// received = exported + dropped + queued + in_flight, for the lane.
bool books_balance(const nlohmann::json& lane);
// Until the "otlp" exporter's traces lane has received something and holds nothing queued or in
// flight (a test REQUIREs it, bounded); the lane as it is then.
nlohmann::json settled_lane(const temp_dir& dir, const agent& a);

}  // namespace sidelight::test
