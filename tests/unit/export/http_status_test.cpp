// How the OTLP/HTTP exporter reads an upstream's answer: what is retried, what is permanent,
// what Retry-After means, and what a 2xx with partial success counts.
#include <google/rpc/status.pb.h>

#include <catch2/catch.hpp>

#include "codec/gzip.hpp"
#include "export/otlp_http_exporter.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

using namespace sidelight::exporting;
using namespace std::chrono_literals;
using kind = export_outcome::kind;

namespace {

// 2015-10-21 07:28:00 UTC
const auto kNow = std::chrono::system_clock::from_time_t(1445412480);

export_outcome answer(unsigned status, std::string_view body = "",
                      std::string_view content_type = "", std::string_view retry_after = "") {
  http_answer a;
  a.status = status;
  a.body = body;
  a.content_type = content_type;
  a.retry_after = retry_after;
  return classify_http_answer(signal::traces, a, kNow);
}

std::string gunzip(std::string_view in) {
  std::string out;
  REQUIRE(sidelight::codec::gunzip(in, 64u << 20, out).empty());
  return out;
}

}  // namespace

TEST_CASE("HTTP 2xx is success", "[retry][http]") {
  for (unsigned status : {200u, 202u, 204u}) {
    INFO("status " << status);
    auto out = answer(status);
    CHECK(out.result == kind::ok);
    CHECK(out.rejected == 0);
  }
}

TEST_CASE("HTTP 429, 502, 503 and 504 are retryable, and nothing else", "[retry][http]") {
  for (unsigned status = 300; status < 600; ++status) {
    INFO("status " << status);
    bool retryable = status == 429 || status == 502 || status == 503 || status == 504;
    CHECK(answer(status).result == (retryable ? kind::retryable : kind::permanent));
  }
}

TEST_CASE("Retry-After is honoured in seconds and as an HTTP-date", "[retry][http]") {
  CHECK(answer(503, "", "", "7").retry_after == 7000ms);
  CHECK(answer(429, "", "", " 0 ").retry_after == 0ms);
  CHECK(answer(503, "", "", "Wed, 21 Oct 2015 07:28:30 GMT").retry_after == 30000ms);
  // A date already past means at once; garbage means the pipeline's own backoff.
  CHECK(answer(503, "", "", "Wed, 21 Oct 2015 07:00:00 GMT").retry_after == 0ms);
  CHECK_FALSE(answer(503, "", "", "soon").retry_after.has_value());
  CHECK_FALSE(answer(503, "", "", "-5").retry_after.has_value());
  CHECK_FALSE(answer(503, "", "", "Wed, 21 Oct 2015 07:28:30 GMT trailing").retry_after);
  CHECK_FALSE(answer(503).retry_after.has_value());
  // An absurd hint is held to a day, a date centuries away too.
  CHECK(answer(503, "", "", "99999999999999999999999").retry_after == 24h);
  CHECK(answer(503, "", "", "Fri, 31 Dec 9999 23:59:59 GMT").retry_after == 24h);
  // A permanent status keeps no hint.
  CHECK_FALSE(answer(400, "", "", "5").retry_after.has_value());
}

TEST_CASE("a refusal quotes the upstream's google.rpc.Status or its text, made printable",
          "[http]") {
  google::rpc::Status st;
  st.set_code(3);
  st.set_message("span name missing");
  auto out = answer(400, st.SerializeAsString(), "application/x-protobuf");
  CHECK(out.message == "HTTP 400: span name missing");
  CHECK(answer(401, "token\nexpired\x01", "text/plain").message == "HTTP 401: token expired");
  CHECK(answer(500).message == "HTTP 500");
  auto long_text = answer(500, std::string(10000, 'x'), "text/plain").message;
  CHECK(long_text.size() < 400);
  CHECK(long_text.ends_with("..."));
}

TEST_CASE("a 2xx with partial success counts the items the upstream refused", "[http]") {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse r;
  r.mutable_partial_success()->set_rejected_spans(3);
  r.mutable_partial_success()->set_error_message("3 spans too old");
  auto out = answer(200, r.SerializeAsString(), "application/x-protobuf");
  CHECK(out.result == kind::ok);
  CHECK(out.rejected == 3);
  CHECK(out.message == "3 spans too old");
  // JSON answers (not ours to ask for) are not read as protobuf.
  CHECK(answer(200, "{\"partialSuccess\":{}}", "application/json").rejected == 0);
}

TEST_CASE("gzip_compress writes a gzip member that inflates back", "[http]") {
  std::string text;
  for (int i = 0; i < 10000; ++i)
    text += "span " + std::to_string(i) + ";";
  auto packed = sidelight::codec::gzip_compress(text);
  CHECK(packed.size() < text.size() / 3);
  CHECK(static_cast<unsigned char>(packed[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(packed[1]) == 0x8b);
  CHECK(gunzip(packed) == text);
  CHECK(gunzip(sidelight::codec::gzip_compress("")).empty());
}
