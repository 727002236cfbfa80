#include "codec/otlp_json.hpp"

#include <catch2/catch.hpp>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
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

namespace {

namespace pb = google::protobuf;
using sidelight::codec::otlp_json_to_wire;
using sidelight::codec::signal;

void fill_value(otlp::common::v1::AnyValue& v, int kind) {
  switch (kind % 7) {
    case 0:
      v.set_string_value("text \xc3\xa9 \"quoted\"");
      break;
    case 1:
      v.set_bool_value(true);
      break;
    case 2:
      v.set_int_value(-42);
      break;
    case 3:
      v.set_double_value(-0.5);
      break;
    case 4:
      v.set_bytes_value(std::string("\x00\xff\x10", 3));
      break;
    case 5: {
      auto* kv = v.mutable_kvlist_value()->add_values();
      kv->set_key("inner");
      kv->mutable_value()->mutable_array_value()->add_values()->set_int_value(7);
      break;
    }
    default:
      v.mutable_array_value()->add_values()->set_string_value("");
  }
}

void fill_attributes(pb::RepeatedPtrField<otlp::common::v1::KeyValue>& attrs) {
  for (int k = 0; k < 7; ++k) {
    auto* kv = attrs.Add();
    kv->set_key("k" + std::to_string(k));
    fill_value(*kv->mutable_value(), k);
  }
}

// The bytes protobuf itself serializes, and those the transcoder makes of the same request's
// OTLP/JSON text, must be the same bytes.
void check_same_bytes(signal s, pb::Message& request) {
  auto expected = request.SerializeAsString();
  auto text = sidelight::codec::to_otlp_json(request);
  std::string wire;
  INFO(text);
  REQUIRE(otlp_json_to_wire(s, text, 1u << 30, wire).empty());
  CHECK(wire == expected);
}

}  // namespace

TEST_CASE("OTLP/JSON to wire: the bytes protobuf would write, for traces", "[otlp_json]") {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  fill_attributes(*rs->mutable_resource()->mutable_attributes());
  rs->mutable_resource()->set_dropped_attributes_count(3);
  rs->set_schema_url("https://opentelemetry.io/schemas/1.26.0");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("lib");
  ss->mutable_scope()->set_version("1.0");
  for (int i = 0; i < 3; ++i) {
    auto* sp = ss->add_spans();
    sp->set_trace_id(std::string(16, static_cast<char>(0xa0 + i)));
    sp->set_span_id(std::string(8, static_cast<char>(0x10 + i)));
    if (i) sp->set_parent_span_id(std::string(8, '\x01'));
    sp->set_trace_state("k=v");
    sp->set_name("GET /x");
    sp->set_kind(otlp::trace::v1::Span::SPAN_KIND_CLIENT);
    sp->set_start_time_unix_nano(1700000000000000000ull + i);
    sp->set_end_time_unix_nano(18446744073709551615ull);
    sp->set_flags(0x301);
    fill_attributes(*sp->mutable_attributes());
    auto* ev = sp->add_events();
    ev->set_name("exception");
    ev->set_time_unix_nano(5);
    fill_attributes(*ev->mutable_attributes());
    auto* link = sp->add_links();
    link->set_trace_id(std::string(16, '\x02'));
    link->set_span_id(std::string(8, '\x03'));
    sp->mutable_status()->set_code(otlp::trace::v1::Status::STATUS_CODE_ERROR);
    sp->mutable_status()->set_message("boom");
  }
  rs->add_scope_spans();  // an empty one is kept, as protobuf keeps it
  check_same_bytes(signal::traces, req);
}

TEST_CASE("OTLP/JSON to wire: the bytes protobuf would write, for metrics", "[otlp_json]") {
  otlp::collector::metrics::v1::ExportMetricsServiceRequest req;
  auto* sm = req.add_resource_metrics()->add_scope_metrics();
  auto* g = sm->add_metrics();
  g->set_name("g");
  g->set_unit("1");
  auto* gp = g->mutable_gauge()->add_data_points();
  gp->set_as_double(0.25);
  gp->set_time_unix_nano(9);
  fill_attributes(*gp->mutable_attributes());
  auto* ex = gp->add_exemplars();
  ex->set_as_int(-3);
  ex->set_trace_id(std::string(16, '\x07'));
  ex->set_span_id(std::string(8, '\x08'));
  auto* sum = sm->add_metrics()->mutable_sum();
  sum->set_is_monotonic(true);
  sum->set_aggregation_temporality(otlp::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
  sum->add_data_points()->set_as_int(-9000000000ll);
  auto* h = sm->add_metrics()->mutable_histogram()->add_data_points();
  h->set_count(6);
  h->set_sum(0);  // optional: zero is kept
  h->set_min(-1.5);
  h->set_max(1e300);
  for (std::uint64_t c : {1ull, 0ull, 5ull})
    h->add_bucket_counts(c);
  for (double b : {0.0, 2.5})
    h->add_explicit_bounds(b);
  auto* e = sm->add_metrics()->mutable_exponential_histogram()->add_data_points();
  e->set_scale(-3);
  e->set_zero_count(2);
  e->mutable_positive()->set_offset(-7);
  e->mutable_positive()->add_bucket_counts(4);
  e->mutable_negative()->set_offset(12);
  e->set_zero_threshold(1e-9);
  auto* q = sm->add_metrics()->mutable_summary()->add_data_points();
  q->set_count(3);
  q->add_quantile_values()->set_quantile(0.99);
  check_same_bytes(signal::metrics, req);
}

TEST_CASE("OTLP/JSON to wire: the bytes protobuf would write, for logs", "[otlp_json]") {
  otlp::collector::logs::v1::ExportLogsServiceRequest req;
  auto* lr = req.add_resource_logs()->add_scope_logs()->add_log_records();
  lr->set_time_unix_nano(1);
  lr->set_observed_time_unix_nano(2);
  lr->set_severity_number(otlp::logs::v1::SEVERITY_NUMBER_ERROR);
  lr->set_severity_text("ERROR");
  fill_value(*lr->mutable_body(), 5);
  fill_attributes(*lr->mutable_attributes());
  lr->set_dropped_attributes_count(1);
  lr->set_flags(1);
  lr->set_trace_id(std::string(16, '\x0f'));
  lr->set_span_id(std::string(8, '\xf0'));
  check_same_bytes(signal::logs, req);
}

TEST_CASE("OTLP/JSON to wire: what protobuf's JSON parser also takes", "[otlp_json]") {
  std::string wire;
  // Proto field names, numbers as strings, enum names, null, unknown fields of any shape.
  auto text = R"({"resource_spans":[{"scopeSpans":[{"spans":[{"name":"a","kind":"SPAN_KIND_SERVER",
    "startTimeUnixNano":1700000000000000000,"endTimeUnixNano":"1700000000000000001",
    "droppedAttributesCount":"2","status":null,"somethingNew":{"x":[1,{"y":null}]}}]}]}]})";
  REQUIRE(otlp_json_to_wire(signal::traces, text, 1u << 20, wire).empty());
  otlp::collector::trace::v1::ExportTraceServiceRequest parsed, reference;
  REQUIRE(parsed.ParseFromString(wire));
  REQUIRE(from_otlp_json(text, reference).empty());
  CHECK(parsed.SerializeAsString() == reference.SerializeAsString());
  CHECK(parsed.resource_spans(0).scope_spans(0).spans(0).kind() ==
        otlp::trace::v1::Span::SPAN_KIND_SERVER);
}

TEST_CASE("OTLP/JSON to wire: refusals name the problem and leave nothing behind", "[otlp_json]") {
  std::string wire;
  auto refused = [&](std::string_view text) {
    auto err = otlp_json_to_wire(signal::traces, text, 1u << 20, wire);
    CHECK(wire.empty());
    return err;
  };
  CHECK_THAT(refused(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcd"}]}]}]})"),
             Catch::Contains("32 hex digits"));
  CHECK_THAT(
      refused(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"zzzzzzzzzzzzzzzz"}]}]}]})"),
      Catch::Contains("hex"));
  CHECK_FALSE(refused("{").empty());
  CHECK_FALSE(refused("[]").empty());
  CHECK_FALSE(refused(R"({"resourceSpans":5})").empty());
  CHECK_FALSE(refused(R"({"resourceSpans":[{"resource":{"droppedAttributesCount":-1}}]})").empty());
  CHECK_FALSE(refused(R"({} {})").empty());
  // AnyValue nests without end in the schema; the text may not.
  std::string deep = R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":)";
  for (int i = 0; i < 200; ++i)
    deep += R"({"arrayValue":{"values":[)";
  for (int i = 0; i < 200; ++i)
    deep += "]}}";
  deep += "}]}]}]}";
  auto err = otlp_json_to_wire(signal::logs, deep, 1u << 20, wire);
  CHECK_THAT(err, Catch::Contains("deeper than"));
  // The wire form is bounded too: bucket counts take 8 bytes each, "1," two.
  std::string counts =
      R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[{"bucketCounts":[)";
  for (int i = 0; i < 1000; ++i)
    counts += i ? ",1" : "1";
  counts += "]}]}}]}]}]}";
  CHECK_THAT(otlp_json_to_wire(signal::metrics, counts, 4000, wire),
             Catch::Contains("once encoded"));
  CHECK(otlp_json_to_wire(signal::metrics, counts, 9000, wire).empty());
}

TEST_CASE("OTLP/JSON to wire: a million empty objects are a million empty messages",
          "[otlp_json]") {
  std::string text = R"({"resourceSpans":[)";
  for (int i = 0; i < 1'000'000; ++i)
    text += i ? ",{}" : "{}";
  text += "]}";
  std::string wire;
  REQUIRE(otlp_json_to_wire(signal::traces, text, 4u << 20, wire).empty());
  CHECK(wire.size() == 2'000'000);  // a tag and a zero length each
}
