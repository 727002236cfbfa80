#include "intake/ndjson.hpp"

#include <catch2/catch.hpp>

using namespace sidelight::intake;
namespace logs = opentelemetry::proto::logs::v1;
namespace trace = opentelemetry::proto::trace::v1;

namespace {

ndjson_line decode_ok(std::string_view line) {
  ndjson_decoder d;
  ndjson_line out;
  auto err = d.decode(line, out);
  INFO("line: " << line);
  REQUIRE(err.empty());
  return out;
}

std::string decode_error(std::string_view line) {
  ndjson_decoder d;
  ndjson_line out;
  return d.decode(line, out);
}

const opentelemetry::proto::common::v1::AnyValue* attribute(
    const google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>& attrs,
    const std::string& key) {
  for (const auto& kv : attrs)
    if (kv.key() == key) return &kv.value();
  return nullptr;
}

}  // namespace

TEST_CASE("ndjson: a typical structured log line, every field", "[ndjson]") {
  auto l = decode_ok(
      R"({"timestamp":"2024-03-15T10:23:45.123Z","level":"error","service":"order-service",)"
      R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",)"
      R"("message":"Failed to process order","order_id":"12345","duration_ms":234})");
  REQUIRE(l.what == ndjson_line::kind::log);
  const auto& r = l.log;
  CHECK(r.time_unix_nano() == 1710498225123000000ull);
  CHECK(r.severity_number() == logs::SEVERITY_NUMBER_ERROR);
  CHECK(r.severity_text() == "error");
  CHECK(l.service == "order-service");
  CHECK(r.trace_id() == *decode_hex("4bf92f3577b34da6a3ce929d0e0e4736", 16));
  CHECK(r.span_id() == *decode_hex("00f067aa0ba902b7", 8));
  CHECK(r.body().string_value() == "Failed to process order");
  REQUIRE(r.attributes_size() == 2);
  CHECK(attribute(r.attributes(), "order_id")->string_value() == "12345");
  CHECK(attribute(r.attributes(), "duration_ms")->int_value() == 234);
}

TEST_CASE("ndjson: alternative keys, integer nanoseconds, nested attributes", "[ndjson]") {
  auto l = decode_ok(
      R"({"ts":1710498225123456789,"severity":"WARNING","msg":"slow","traceId":)"
      R"("4BF92F3577B34DA6A3CE929D0E0E4736","spanId":"00f067aa0ba902b7","http":{"status":503,)"
      R"("retry":true,"tags":["a",1.5,null]}})");
  const auto& r = l.log;
  CHECK(r.time_unix_nano() == 1710498225123456789ull);
  CHECK(r.severity_number() == logs::SEVERITY_NUMBER_WARN);
  CHECK(r.body().string_value() == "slow");
  CHECK(r.trace_id().size() == 16);
  const auto* http = attribute(r.attributes(), "http");
  REQUIRE(http);
  REQUIRE(http->has_kvlist_value());
  const auto& kv = http->kvlist_value().values();
  REQUIRE(kv.size() == 3);
  CHECK(kv[0].value().int_value() == 503);
  CHECK(kv[1].value().bool_value());
  REQUIRE(kv[2].value().array_value().values_size() == 3);
  CHECK(kv[2].value().array_value().values(1).double_value() == 1.5);
}

TEST_CASE("ndjson: every level maps to its OTLP severity number", "[ndjson]") {
  CHECK(severity_number("trace") == 1);
  CHECK(severity_number("DEBUG") == 5);
  CHECK(severity_number("info") == 9);
  CHECK(severity_number("warn") == 13);
  CHECK(severity_number("Warning") == 13);
  CHECK(severity_number("error") == 17);
  CHECK(severity_number("fatal") == 21);
  CHECK(severity_number("loud") == 0);
  auto l = decode_ok(R"({"level":"notice","message":"x"})");
  CHECK(l.log.severity_text() == "notice");
  CHECK(l.log.severity_number() == 0);
  CHECK(decode_ok(R"({"level":14})").log.severity_number() == 14);
}

TEST_CASE("ndjson: RFC 3339 times with offsets and fractions", "[ndjson]") {
  CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_rfc3339("2024-03-15T10:23:45.123Z") == 1710498225123000000);
  CHECK(parse_rfc3339("2024-03-15T12:23:45.123+02:00") == 1710498225123000000);
  CHECK(parse_rfc3339("2024-03-15T10:23:45.123456789123Z") == 1710498225123456789);
  CHECK(parse_rfc3339("2024-02-29T00:00:00Z") == 1709164800000000000);
  CHECK_FALSE(parse_rfc3339("2024-03-15 10:23"));
  CHECK_FALSE(parse_rfc3339("2024-13-15T10:23:45Z"));
  CHECK_FALSE(parse_rfc3339("2024-03-15T10:23:45"));
  CHECK_FALSE(parse_rfc3339("2024-03-15T10:23:45.Z"));
  CHECK_FALSE(parse_rfc3339("2024-03-15T10:23:45Zjunk"));
  // Outside what OTLP's unsigned nanoseconds hold (found by fuzz_ndjson: an overflow before).
  CHECK_FALSE(parse_rfc3339("9999-12-31T23:59:59Z"));
  CHECK_FALSE(parse_rfc3339("1969-12-31T23:59:59Z"));
  CHECK(parse_rfc3339("2262-04-11T23:47:15Z") == 9223372035000000000);
}

TEST_CASE("ndjson: a wrapped span, every field", "[ndjson]") {
  auto l = decode_ok(
      R"({"span":{"name":"GET /orders","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
      R"("span_id":"00f067aa0ba902b7","parent_span_id":"1111111111111111","kind":"server",)"
      R"("start":"2024-03-15T10:23:45Z","end":1710498226000000000,)"
      R"("status":{"code":"error","message":"boom"},"attributes":{"http.status_code":500},)"
      R"("events":[{"name":"retry","time":"2024-03-15T10:23:45.5Z","attributes":{"n":1}}],)"
      R"("links":[{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331",)"
      R"("attributes":{"why":"batch"}}]}})");
  REQUIRE(l.what == ndjson_line::kind::span);
  const auto& s = l.span;
  CHECK(s.name() == "GET /orders");
  CHECK(s.parent_span_id() == *decode_hex("1111111111111111", 8));
  CHECK(s.kind() == trace::Span::SPAN_KIND_SERVER);
  CHECK(s.start_time_unix_nano() == 1710498225000000000ull);
  CHECK(s.end_time_unix_nano() == 1710498226000000000ull);
  CHECK(s.status().code() == trace::Status::STATUS_CODE_ERROR);
  CHECK(s.status().message() == "boom");
  CHECK(attribute(s.attributes(), "http.status_code")->int_value() == 500);
  REQUIRE(s.events_size() == 1);
  CHECK(s.events(0).name() == "retry");
  CHECK(s.events(0).time_unix_nano() == 1710498225500000000ull);
  REQUIRE(s.links_size() == 1);
  CHECK(s.links(0).span_id() == *decode_hex("b7ad6b7169203331", 8));
  CHECK(attribute(s.links(0).attributes(), "why")->string_value() == "batch");
}

TEST_CASE("ndjson: a span line may name its service, before or after the span", "[ndjson]") {
  for (auto text : {R"({"service":"checkout","span":{"name":"x","trace_id":)"
                    R"("4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}})",
                    R"({"span":{"name":"x","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
                    R"("span_id":"00f067aa0ba902b7"},"service":"checkout"})"}) {
    auto l = decode_ok(text);
    CHECK(l.what == ndjson_line::kind::span);
    CHECK(l.service == "checkout");
    CHECK(l.span.name() == "x");
  }
}

TEST_CASE("ndjson: many escaped keys are unescaped once (an overflow under ASan before)",
          "[ndjson]") {
  std::string line = "{";
  for (int i = 0; i < 200; ++i)
    line += "\"k\\u00e9y\\n" + std::to_string(i) + "\":1,";
  line += "\"msg\":\"x\"}";
  auto l = decode_ok(line);
  CHECK(l.log.attributes_size() == 200);
}

TEST_CASE("ndjson: every bad line gets a message naming what is wrong", "[ndjson]") {
  CHECK(decode_error("") == "empty line");
  CHECK(decode_error("[1,2]") == "expected one JSON object per line");
  CHECK(decode_error(R"({"message":"x")").rfind("not valid JSON", 0) == 0);
  CHECK(decode_error("{\"message\":\"\xff\xfe\"}").rfind("not valid JSON", 0) == 0);
  CHECK(decode_error(R"({"message":"x"} trailing)").rfind("not valid JSON", 0) == 0);
  CHECK(decode_error(R"({"message":"x"}{"message":"y"})") == "text after the JSON object");
  CHECK(decode_error(R"({"timestamp":"yesterday"})") ==
        "'timestamp': 'yesterday' is not an RFC 3339 time such as 2024-03-15T10:23:45.123Z");
  CHECK(decode_error(R"({"ts":-5})") == "'ts': expected unix nanoseconds as a whole number");
  CHECK(decode_error(R"({"trace_id":"abc"})") == "'trace_id': expected 32 hex digits, got 'abc'");
  CHECK(decode_error(R"({"span_id":"zz00000000000000"})") ==
        "'span_id': expected 16 hex digits, got 'zz00000000000000'");
  CHECK(decode_error(R"({"level":99})") ==
        "'level': expected a level name or a severity number 1..24");
  CHECK(decode_error(R"({"service":5})") == "'service': expected a string");
  CHECK(decode_error(R"({"span":{"name":"x","span_id":"00f067aa0ba902b7"}})") ==
        "'span': missing trace_id");
  CHECK(decode_error(R"({"span":{"name":"x","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
                     R"("span_id":"00f067aa0ba902b7","kind":"sideways"}})") ==
        "'kind': expected internal, server, client, producer or consumer, got 'sideways'");
  CHECK(decode_error(R"({"span":{"name":"x","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
                     R"("span_id":"00f067aa0ba902b7"},"level":"info"})") ==
        "a span line holds only {\"span\": {...}} and \"service\"; found 'level' too");
}

TEST_CASE("ndjson: deeply nested JSON is refused, not recursed into", "[ndjson]") {
  std::string deep = R"({"a":)";
  for (int i = 0; i < 200; ++i)
    deep += "[";
  for (int i = 0; i < 200; ++i)
    deep += "]";
  deep += "}";
  CHECK(decode_error(deep) == "'a' nests deeper than 20 levels");
}

TEST_CASE("ndjson: one decoder serves many lines, long and short", "[ndjson]") {
  ndjson_decoder d;
  ndjson_line out;
  std::string big = R"({"message":")" + std::string(100000, 'x') + R"("})";
  CHECK(d.decode(big, out).empty());
  CHECK(out.log.body().string_value().size() == 100000);
  CHECK(d.decode(R"({"message":"short"})", out).empty());
  CHECK(out.log.body().string_value() == "short");
  CHECK(out.log.attributes_size() == 0);
}
