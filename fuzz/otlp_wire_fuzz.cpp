// Any bytes as an OTLP/gRPC or OTLP/HTTP protobuf request body (the first byte picks the signal,
// and whether Resource*s are split at a small max_chunk_bytes), checked against libprotobuf's own
// parser, so that the two cannot disagree:
// - what intake accepts, libprotobuf parses too, with the same number of items; the chunks it
//   makes parse back as a request holding every item once;
// - what libprotobuf parses, intake accepts, except where intake is stricter on purpose: nesting
//   deeper than kMaxProtoDepth, a known field sent with another wire type (libprotobuf keeps it as
//   an unknown field, and the upstream would not see it), groups (wire types 3 and 4, long
//   deprecated), and a request that its resource attributes would grow too much.
// Never a crash.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "codec/otlp_json.hpp"
#include "intake/otlp_wire.hpp"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace {

namespace otlp = opentelemetry::proto;

std::uint64_t points(const otlp::metrics::v1::Metric& m) {
  switch (m.data_case()) {
    case otlp::metrics::v1::Metric::kGauge:
      return static_cast<std::uint64_t>(m.gauge().data_points_size());
    case otlp::metrics::v1::Metric::kSum:
      return static_cast<std::uint64_t>(m.sum().data_points_size());
    case otlp::metrics::v1::Metric::kHistogram:
      return static_cast<std::uint64_t>(m.histogram().data_points_size());
    case otlp::metrics::v1::Metric::kExponentialHistogram:
      return static_cast<std::uint64_t>(m.exponential_histogram().data_points_size());
    case otlp::metrics::v1::Metric::kSummary:
      return static_cast<std::uint64_t>(m.summary().data_points_size());
    default:
      return 0;
  }
}

// The items libprotobuf sees in a parsed request, as intake counts them.
std::uint64_t items_of(const google::protobuf::Message& msg) {
  std::uint64_t n = 0;
  if (const auto* t =
          dynamic_cast<const otlp::collector::trace::v1::ExportTraceServiceRequest*>(&msg)) {
    for (const auto& rs : t->resource_spans())
      for (const auto& ss : rs.scope_spans())
        n += static_cast<std::uint64_t>(ss.spans_size());
  } else if (const auto* l =
                 dynamic_cast<const otlp::collector::logs::v1::ExportLogsServiceRequest*>(&msg)) {
    for (const auto& rl : l->resource_logs())
      for (const auto& sl : rl.scope_logs())
        n += static_cast<std::uint64_t>(sl.log_records_size());
  } else if (const auto* m =
                 dynamic_cast<const otlp::collector::metrics::v1::ExportMetricsServiceRequest*>(
                     &msg)) {
    for (const auto& rm : m->resource_metrics())
      for (const auto& sm : rm.scope_metrics())
        for (const auto& metric : sm.metrics())
          n += points(metric);
  }
  return n;
}

bool stricter_on_purpose(const std::string& error) {
  // A tag whose varint overflows 32 bits is cut to 32 bits by libprotobuf and taken for an unknown
  // field; Go's protobuf, which the Collector runs, refuses its field number, as intake does.
  for (std::string_view why : {"nested more than", "wrong wire type", "unsupported wire type",
                               "field tag over 5 bytes", "the request's resources"}) {
    if (error.find(why) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);  // its refusals are expected, by the thousand
    return true;
  }();
  (void)quiet;
  if (size == 0) return 0;
  auto s = static_cast<sidelight::codec::signal>(data[0] % 3);
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  opentelemetry::proto::resource::v1::Resource additions;
  auto* kv = additions.add_attributes();
  kv->set_key("host.name");
  kv->mutable_value()->set_string_value("fuzz");
  std::uint64_t limit = (data[0] & 4) ? 256 : 0;
  auto r = sidelight::intake::split_request(s, body, additions, nullptr, limit);
  auto reference = sidelight::codec::new_request(s);
  bool parsed = reference->ParseFromArray(body.data(), static_cast<int>(body.size()));
  if (!r.error.empty()) {
    if (parsed && !stricter_on_purpose(r.error)) {  // refused what is valid
      std::fprintf(stderr, "refused what libprotobuf parses: %s\n", r.error.c_str());
      std::abort();
    }
    return 0;
  }
  if (!parsed) std::abort();              // accepted what an upstream cannot parse
  if (items_of(*reference) != r.items) {  // counted other items than it holds
    std::fprintf(stderr, "items: ours %llu, libprotobuf %llu\n",
                 static_cast<unsigned long long>(r.items),
                 static_cast<unsigned long long>(items_of(*reference)));
    std::abort();
  }
  std::string joined;
  std::uint64_t items = 0;
  for (const auto& c : r.chunks) {
    joined += *c.bytes;
    items += c.items;
  }
  if (items != r.items) std::abort();  // splitting loses and duplicates nothing
  // What was accepted must be a request an upstream can parse.
  auto msg = sidelight::codec::new_request(s);
  if (!msg->ParseFromString(joined)) std::abort();
  return 0;
}
