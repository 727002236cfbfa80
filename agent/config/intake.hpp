// The intake section: the local listeners applications hand telemetry to, and head sampling.
#pragma once

#include <optional>

#include "config/common.hpp"

namespace sidelight::config {

struct listener {
  std::string unix_path;
  std::string unix_datagram;  // NDJSON only: one object per datagram
  std::string tcp;            // host:port, loopback unless the user says otherwise
  std::uint32_t mode = 0660;
  std::string group;
  std::uint64_t max_message_size = 4ull << 20;  // a request body, or one NDJSON line
  std::uint32_t max_connections = 256;
  duration idle_timeout = std::chrono::minutes(5);
  // OTLP/gRPC only: calls one connection may have open at once (HTTP/2 streams); a client's
  // further calls wait on its side instead of in sidelight's buffers.
  std::uint32_t max_concurrent_streams = 4;
  // NDJSON only: threads that decode stream connections' lines, a connection on one of them.
  std::uint32_t threads = 2;
  bool enabled() const { return !unix_path.empty() || !unix_datagram.empty() || !tcp.empty(); }
};

// Head sampling of client telemetry by trace id, as OpenTelemetry's TraceIdRatioBased sampler
// decides: the same trace id gets the same decision in every service. Off unless a ratio is set.
struct sampling_settings {
  std::optional<double> traces;  // spans; a span whose status is ERROR is always kept
  std::optional<double> logs;    // log records with a trace id; ERROR and above always kept
  bool enabled() const { return traces.has_value() || logs.has_value(); }
};

struct intake_settings {
  listener otlp_grpc;
  listener otlp_http;
  listener ndjson;
  sampling_settings sampling;
  // What connections of every door may hold together in requests and lines still being read,
  // beyond 64 KiB each.
  std::uint64_t max_buffered_bytes = 64ull << 20;
};

const schema::table<intake_settings>& intake_table();

}  // namespace sidelight::config
