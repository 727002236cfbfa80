#include "codec/otlp_json.hpp"

#include <catch2/catch.hpp>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace otlp = opentelemetry::proto;
using sidelight::codec::from_otlp_json;
using sidelight::codec::to_otlp_json;

TEST_CASE("OTLP/JSON: ids are hex both ways, enums integers, names lowerCamelCase", "[otlp_json]") {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  auto* s = req.add_resource_spans()->add_scope_spans()->add_spans();
  s->set_trace_id(
      std::string("\x5b\x8e\xff\xf7\x98\x03\x81\x03\xd2\x69\xb6\x33\x81\x3f\xc6\x0c", 16));
  s->set_span_id(std::string("\xee\xe1\x9b\x7e\xc3\xc1\xb1\x74", 8));
  s->set_kind(otlp::trace::v1::Span::SPAN_KIND_SERVER);
  s->set_start_time_unix_nano(1544712660000000000ull);
  auto copy = req;
  auto text = to_otlp_json(copy);
  CHECK_THAT(text, Catch::Contains(R"("traceId":"5b8efff798038103d269b633813fc60c")"));
  CHECK_THAT(text, Catch::Contains(R"("spanId":"eee19b7ec3c1b174")"));
  CHECK_THAT(text, Catch::Contains(R"("kind":2)"));
  CHECK_THAT(text, Catch::Contains(R"("startTimeUnixNano":"1544712660000000000")"));

  otlp::collector::trace::v1::ExportTraceServiceRequest back;
  REQUIRE(from_otlp_json(text, back).empty());
  CHECK(back.SerializeAsString() == req.SerializeAsString());
}

TEST_CASE("OTLP/JSON: unknown fields are ignored, bad ids and bad JSON are named", "[otlp_json]") {
  otlp::collector::trace::v1::ExportTraceServiceRequest m;
  CHECK(from_otlp_json(R"({"resourceSpans":[],"somethingNew":1})", m).empty());
  CHECK_THAT(
      from_otlp_json(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcd"}]}]}]})", m),
      Catch::Contains("trace_id"));
  CHECK_THAT(
      from_otlp_json(
          R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"5b8efff798038103d269b633813fc60c"}]}]}]})",
          m),
      Catch::Contains("16 hex digits"));
  CHECK_FALSE(from_otlp_json("{", m).empty());
  CHECK_FALSE(from_otlp_json(R"({"resourceSpans":5})", m).empty());
}
