// Wire-level work on OTLP Export*ServiceRequest bytes, so intake never builds a span as an object:
// one pass checks every tag, length and nesting level against the OTLP schema and the UTF-8 of
// every string (upstreams built on Go's protobuf refuse a whole request for one bad string, which
// would cost other clients' data batched with it), and counts the items; then each Resource* is
// re-framed as a pipeline chunk with its resource attributes filled in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "codec/signal.hpp"
#include "config/config.hpp"
#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "pipeline/drop_oldest_queue.hpp"

namespace sidelight::intake {

// Messages nest at most this deep (AnyValue can nest without end); deeper input is refused.
constexpr int kMaxProtoDepth = 64;
// Without a max_chunk_bytes, the Resource*s of one request share chunks up to this size.
constexpr std::uint64_t kMaxSharedChunk = 4u << 20;

struct split_request_result {
  std::vector<pipeline::chunk> chunks;  // whole ResourceSpans / ResourceLogs / ResourceMetrics
  std::uint64_t items = 0;              // spans, log records or metric data points received
  std::uint64_t sampled_out = 0;        // of those, left out by head sampling
  std::string error;                    // when set, the request is refused as a whole
};

// OpenTelemetry's TraceIdRatioBased rule: the trace id's last 8 bytes, read big-endian, below
// ratio × 2^64. An id that is not 16 bytes is always kept.
bool trace_sampled(std::string_view trace_id, double ratio);

// Validates `request`, counts its items, and frames its Resource*s into chunks: those that fit
// together share one, a Resource* without items is left out, and a request whose Resource*s
// would grow past twice its size (plus 1 MiB) with `additions` is refused. `additions` are
// resource attributes added where the client's resource lacks the key; a client's own attribute
// is never replaced.
// With `sampling`, spans (log records) whose trace is not sampled are left out, except spans
// whose status is ERROR (records of severity ERROR and above, and records without a trace id).
// With `max_chunk_bytes`, a Resource* framed larger than that is split into several chunks with
// the same resource and scopes, each holding as many whole spans, log records or metrics as fit.
// A single item larger than the limit travels alone: it cannot be split.
split_request_result split_request(codec::signal s, std::string_view request,
                                   const opentelemetry::proto::resource::v1::Resource& additions,
                                   const config::sampling_settings* sampling = nullptr,
                                   std::uint64_t max_chunk_bytes = 0);

// Only the validation and the count; error text or empty.
std::string validate_request(codec::signal s, std::string_view request, std::uint64_t& items);

// Adds each of `additions` whose key `resource` does not have yet; a service.name that is an
// SDK's default ("unknown_service", "unknown_service:*") counts as absent and is replaced.
void fill_missing(opentelemetry::proto::resource::v1::Resource& resource,
                  const opentelemetry::proto::resource::v1::Resource& additions);

}  // namespace sidelight::intake
