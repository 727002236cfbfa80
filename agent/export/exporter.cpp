#include "export/exporter.hpp"

#include <algorithm>

#include "codec/utf8.hpp"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace sidelight::exporting {

void read_partial_success(signal s, const std::string& bytes, export_outcome& out) {
  namespace col = opentelemetry::proto::collector;
  auto take = [&out](std::int64_t rejected, const std::string& message) {
    out.rejected = std::max<std::int64_t>(0, rejected);
    out.message = codec::printable_utf8(message);
  };
  switch (s) {
    case signal::traces: {
      col::trace::v1::ExportTraceServiceResponse r;
      if (r.ParseFromString(bytes) && r.has_partial_success()) {
        take(r.partial_success().rejected_spans(), r.partial_success().error_message());
      }
      break;
    }
    case signal::metrics: {
      col::metrics::v1::ExportMetricsServiceResponse r;
      if (r.ParseFromString(bytes) && r.has_partial_success()) {
        take(r.partial_success().rejected_data_points(), r.partial_success().error_message());
      }
      break;
    }
    case signal::logs: {
      col::logs::v1::ExportLogsServiceResponse r;
      if (r.ParseFromString(bytes) && r.has_partial_success()) {
        take(r.partial_success().rejected_log_records(), r.partial_success().error_message());
      }
      break;
    }
  }
}

void limit_retry_after(export_outcome& out, std::chrono::nanoseconds max_wait) {
  if (!out.retry_after) return;
  auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(max_wait);
  out.retry_after = std::clamp(*out.retry_after, std::chrono::milliseconds(0), limit);
}

}  // namespace sidelight::exporting
