#include <catch2/catch.hpp>

#include "export/exporter.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

using namespace sidelight::exporting;
using namespace std::chrono_literals;

TEST_CASE("export: a negative partial-success count reads as none", "[export]") {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse r;
  r.mutable_partial_success()->set_rejected_spans(-5);
  r.mutable_partial_success()->set_error_message("odd count");
  export_outcome out;
  read_partial_success(signal::traces, r.SerializeAsString(), out);
  CHECK(out.rejected == 0);
  CHECK(out.message == "odd count");
}

TEST_CASE("export: an upstream's retry hint never goes past the longest backoff", "[export]") {
  export_outcome out;
  out.retry_after = std::chrono::milliseconds(1'000'000'000'000'000);
  limit_retry_after(out, 30s);
  CHECK(*out.retry_after == 30s);
  out.retry_after = -5ms;
  limit_retry_after(out, 30s);
  CHECK(*out.retry_after == 0ms);
  out.retry_after = 2s;
  limit_retry_after(out, 30s);
  CHECK(*out.retry_after == 2s);
  out.retry_after.reset();
  limit_retry_after(out, 30s);
  CHECK_FALSE(out.retry_after.has_value());
}
