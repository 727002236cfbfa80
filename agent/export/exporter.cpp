#include "export/exporter.hpp"

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace sidelight::exporting {

std::string_view to_string(signal s) {
  switch (s) {
    case signal::traces:
      return "traces";
    case signal::metrics:
      return "metrics";
    case signal::logs:
      return "logs";
  }
  return "?";
}

void read_partial_success(signal s, const std::string& bytes, export_outcome& out) {
  namespace col = opentelemetry::proto::collector;
  switch (s) {
    case signal::traces: {
      col::trace::v1::ExportTraceServiceResponse r;
      if (r.ParseFromString(bytes) && r.has_partial_success()) {
        out.rejected = r.partial_success().rejected_spans();
        out.message = r.partial_success().error_message();
      }
      break;
    }
    case signal::metrics: {
      col::metrics::v1::ExportMetricsServiceResponse r;
      if (r.ParseFromString(bytes) && r.has_partial_success()) {
        out.rejected = r.partial_success().rejected_data_points();
        out.message = r.partial_success().error_message();
      }
      break;
    }
    case signal::logs: {
      col::logs::v1::ExportLogsServiceResponse r;
      if (r.ParseFromString(bytes) && r.has_partial_success()) {
        out.rejected = r.partial_success().rejected_log_records();
        out.message = r.partial_success().error_message();
      }
      break;
    }
  }
}

}  // namespace sidelight::exporting
