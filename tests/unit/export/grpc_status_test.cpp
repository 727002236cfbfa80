#include <google/rpc/error_details.pb.h>
#include <google/rpc/status.pb.h>

#include <catch2/catch.hpp>

#include "export/otlp_grpc_exporter.hpp"

using namespace sidelight::exporting;
using grpc::StatusCode;

namespace {
std::string details_with_retry_info(std::int64_t seconds, std::int32_t nanos) {
  google::rpc::RetryInfo info;
  info.mutable_retry_delay()->set_seconds(seconds);
  info.mutable_retry_delay()->set_nanos(nanos);
  google::rpc::Status status;
  status.set_code(static_cast<int>(StatusCode::RESOURCE_EXHAUSTED));
  status.add_details()->PackFrom(info);
  return status.SerializeAsString();
}
}  // namespace

TEST_CASE("OK is success", "[retry]") {
  CHECK(classify_grpc_status(StatusCode::OK, "", "").result == export_outcome::kind::ok);
}

TEST_CASE("transient gRPC codes are retryable", "[retry]") {
  for (auto code : {StatusCode::UNAVAILABLE, StatusCode::DEADLINE_EXCEEDED, StatusCode::ABORTED,
                    StatusCode::OUT_OF_RANGE, StatusCode::DATA_LOSS, StatusCode::CANCELLED}) {
    INFO("code " << static_cast<int>(code));
    CHECK(classify_grpc_status(code, "x", "").result == export_outcome::kind::retryable);
  }
}

TEST_CASE("every other code is permanent", "[retry]") {
  for (auto code :
       {StatusCode::UNKNOWN, StatusCode::INVALID_ARGUMENT, StatusCode::NOT_FOUND,
        StatusCode::ALREADY_EXISTS, StatusCode::PERMISSION_DENIED, StatusCode::FAILED_PRECONDITION,
        StatusCode::UNIMPLEMENTED, StatusCode::INTERNAL, StatusCode::UNAUTHENTICATED}) {
    INFO("code " << static_cast<int>(code));
    auto out = classify_grpc_status(code, "boom", "");
    CHECK(out.result == export_outcome::kind::permanent);
    CHECK(out.message.find("boom") != std::string::npos);
  }
}

TEST_CASE("RESOURCE_EXHAUSTED is retryable only with RetryInfo, whose delay is kept", "[retry]") {
  CHECK(classify_grpc_status(StatusCode::RESOURCE_EXHAUSTED, "full", "").result ==
        export_outcome::kind::permanent);
  auto out = classify_grpc_status(StatusCode::RESOURCE_EXHAUSTED, "full",
                                  details_with_retry_info(2, 500'000'000));
  CHECK(out.result == export_outcome::kind::retryable);
  REQUIRE(out.retry_after);
  CHECK(out.retry_after->count() == 2500);
}

TEST_CASE("garbage error details are ignored", "[retry]") {
  auto out = classify_grpc_status(StatusCode::RESOURCE_EXHAUSTED, "full", "\xff\xff\xff");
  CHECK(out.result == export_outcome::kind::permanent);
}

TEST_CASE("an absurd or negative RetryInfo delay is read within a day, without overflow",
          "[retry]") {
  auto huge = classify_grpc_status(StatusCode::UNAVAILABLE, "later",
                                   details_with_retry_info(100'000'000'000'000'000, 0));
  REQUIRE(huge.retry_after);
  CHECK(huge.retry_after->count() == 24 * 3600 * 1000);
  auto negative =
      classify_grpc_status(StatusCode::UNAVAILABLE, "later", details_with_retry_info(-10, -5));
  REQUIRE(negative.retry_after);
  CHECK(negative.retry_after->count() == 0);
}

TEST_CASE("an upstream's error text is made valid UTF-8", "[retry]") {
  auto out = classify_grpc_status(StatusCode::UNAVAILABLE, "\xff down", "");
  CHECK(out.message == "gRPC 14: \xef\xbf\xbd down");
}
