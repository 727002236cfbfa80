#include "intake/otlp_wire.hpp"

#include <catch2/catch.hpp>
#include <random>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace otlp = opentelemetry::proto;
namespace intake = sidelight::intake;
using sidelight::codec::signal;

namespace {

void add_string(otlp::resource::v1::Resource& r, const std::string& k, const std::string& v) {
  auto* kv = r.add_attributes();
  kv->set_key(k);
  kv->mutable_value()->set_string_value(v);
}

std::string attribute(const otlp::resource::v1::Resource& r, const std::string& k) {
  for (const auto& kv : r.attributes())
    if (kv.key() == k) return kv.value().string_value();
  return "<missing>";
}

otlp::collector::trace::v1::ExportTraceServiceRequest traces(int resources, int spans) {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  for (int r = 0; r < resources; ++r) {
    auto* rs = req.add_resource_spans();
    add_string(*rs->mutable_resource(), "service.name", "client-" + std::to_string(r));
    auto* ss = rs->add_scope_spans();
    ss->mutable_scope()->set_name("lib");
    for (int i = 0; i < spans; ++i) {
      auto* s = ss->add_spans();
      s->set_name("span-" + std::to_string(i));
      s->set_trace_id(std::string(16, 'T'));
      s->set_span_id(std::string(8, 'S'));
    }
    rs->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  }
  return req;
}

otlp::resource::v1::Resource additions() {
  otlp::resource::v1::Resource add;
  add_string(add, "service.name", "from-target");
  add_string(add, "host.name", "box");
  add_string(add, "deployment.environment.name", "test");
  return add;
}

}  // namespace

TEST_CASE("split_request frames the resources into one chunk, counts spans, keeps every field",
          "[wire]") {
  auto req = traces(2, 3);
  auto r = intake::split_request(signal::traces, req.SerializeAsString(), additions());
  REQUIRE(r.error.empty());
  CHECK(r.items == 6);
  // Resources that fit together share a chunk: its cost is paid once a request.
  REQUIRE(r.chunks.size() == 1);
  CHECK(r.chunks[0].items == 6);
  std::string joined = std::string(*r.chunks[0].bytes);
  otlp::collector::trace::v1::ExportTraceServiceRequest back;
  REQUIRE(back.ParseFromString(joined));
  REQUIRE(back.resource_spans_size() == 2);
  for (int i = 0; i < 2; ++i) {
    const auto& rs = back.resource_spans(i);
    // The client's own service.name stays; what it lacks is filled in.
    CHECK(attribute(rs.resource(), "service.name") == "client-" + std::to_string(i));
    CHECK(attribute(rs.resource(), "host.name") == "box");
    CHECK(attribute(rs.resource(), "deployment.environment.name") == "test");
    CHECK(rs.resource().attributes_size() == 3);
    CHECK(rs.schema_url() == req.resource_spans(i).schema_url());
    CHECK(rs.scope_spans(0).SerializeAsString() ==
          req.resource_spans(i).scope_spans(0).SerializeAsString());
  }
}

TEST_CASE("split_request adds a resource to a Resource* that has none", "[wire]") {
  otlp::collector::logs::v1::ExportLogsServiceRequest req;
  req.add_resource_logs()->add_scope_logs()->add_log_records()->mutable_body()->set_string_value(
      "hello");
  auto r = intake::split_request(signal::logs, req.SerializeAsString(), additions());
  REQUIRE(r.error.empty());
  CHECK(r.items == 1);
  REQUIRE(r.chunks.size() == 1);
  otlp::collector::logs::v1::ExportLogsServiceRequest back;
  REQUIRE(back.ParseFromString(std::string(*r.chunks[0].bytes)));
  CHECK(attribute(back.resource_logs(0).resource(), "service.name") == "from-target");
  CHECK(back.resource_logs(0).scope_logs(0).log_records(0).body().string_value() == "hello");
}

TEST_CASE("split_request counts metric data points of every kind", "[wire]") {
  otlp::collector::metrics::v1::ExportMetricsServiceRequest req;
  auto* sm = req.add_resource_metrics()->add_scope_metrics();
  auto* g = sm->add_metrics()->mutable_gauge();
  g->add_data_points()->set_as_int(1);
  g->add_data_points()->set_as_int(2);
  auto* h = sm->add_metrics()->mutable_histogram();
  auto* hp = h->add_data_points();
  hp->add_bucket_counts(1);
  hp->add_bucket_counts(2);  // packed repeated fixed64
  hp->add_explicit_bounds(0.5);
  sm->add_metrics()->mutable_summary()->add_data_points();
  auto r = intake::split_request(signal::metrics, req.SerializeAsString(), {});
  REQUIRE(r.error.empty());
  CHECK(r.items == 4);
}

TEST_CASE("split_request refuses malformed requests with a message naming the field", "[wire]") {
  auto good = traces(1, 2).SerializeAsString();
  auto check = [](const std::string& bytes, const std::string& expected) {
    auto r = intake::split_request(signal::traces, bytes, {});
    INFO("error: " << r.error);
    CHECK(r.chunks.empty());
    CHECK_THAT(r.error, Catch::Contains(expected));
  };
  SECTION("truncated") {
    check(good.substr(0, good.size() - 5), "runs past the end");
  }
  SECTION("invalid UTF-8 in a span name") {
    auto req = traces(1, 1);
    req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->set_name("bad\xff");
    check(req.SerializeAsString(), "opentelemetry.proto.trace.v1.Span.name: invalid UTF-8");
  }
  SECTION("a wrong wire type") {
    // Field 1 (resource_spans) as a varint.
    check(std::string("\x08\x01", 2), "resource_spans: wrong wire type: varint");
  }
  SECTION("garbage") {
    check(std::string(1000, '\xff'), "opentelemetry.proto");
  }
  SECTION("groups") {
    check(std::string("\x0b", 1), "unsupported wire type 3");
  }
  SECTION("field number 0") {
    check(std::string("\x02\x00", 2), "invalid field number 0");
  }
  // Protobuf refuses tags and lengths encoded in more than 5 bytes; a request accepted with one
  // would make the upstream refuse the batch (found by fuzz_otlp_wire).
  SECTION("a field tag in 6 bytes") {
    // An empty ResourceSpans, then one holding a fixed32 field whose tag is padded to 6 bytes.
    check(std::string("\x0a\x00\x0a\x0a\xed\xff\xff\xff\x85\x00\x0a\x00\x0a\x00", 14),
          "field tag over 5 bytes");
  }
  SECTION("a length in 6 bytes") {
    // ResourceSpans of length 0, written as 0x80 0x80 0x80 0x80 0x80 0x00.
    check(std::string("\x0a\x80\x80\x80\x80\x80\x00", 7), "length over 5 bytes");
  }
  SECTION("nesting deeper than the limit") {
    // AnyValue{kvlist_value{values[KeyValue{value AnyValue{...}}]}} nested 100 deep.
    otlp::common::v1::AnyValue v;
    v.set_string_value("leaf");
    for (int i = 0; i < 100; ++i) {
      otlp::common::v1::AnyValue outer;
      auto* kv = outer.mutable_kvlist_value()->add_values();
      kv->set_key("k");
      *kv->mutable_value() = v;
      v = outer;
    }
    auto req = traces(1, 1);
    auto* a =
        req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->add_attributes();
    a->set_key("deep");
    *a->mutable_value() = v;
    check(req.SerializeAsString(), "nested more than 64 deep");
  }
}

TEST_CASE("an empty request is valid and carries nothing", "[wire]") {
  auto r = intake::split_request(signal::traces, "", {});
  CHECK(r.error.empty());
  CHECK(r.items == 0);
  CHECK(r.chunks.empty());
}

TEST_CASE("trace_sampled follows TraceIdRatioBased: the id's last 8 bytes against ratio x 2^64",
          "[wire][sampling]") {
  std::string low(16, '\0');  // last 8 bytes 0: sampled at any ratio above 0
  std::string high(16, '\xff');
  std::string mid(16, '\0');
  mid[8] = '\x80';  // exactly 2^63: sampled above 0.5 only
  CHECK(intake::trace_sampled(low, 0.001));
  CHECK_FALSE(intake::trace_sampled(low, 0.0));
  CHECK_FALSE(intake::trace_sampled(high, 0.999));
  CHECK(intake::trace_sampled(high, 1.0));
  CHECK_FALSE(intake::trace_sampled(mid, 0.5));
  CHECK(intake::trace_sampled(mid, 0.5001));
  CHECK(intake::trace_sampled("short", 0.0));  // not a trace id: kept
  // About the ratio of random ids.
  std::mt19937_64 rng(7);
  int kept = 0;
  for (int i = 0; i < 100000; ++i) {
    std::string id(16, '\0');
    for (auto& c : id)
      c = static_cast<char>(rng());
    kept += intake::trace_sampled(id, 0.25) ? 1 : 0;
  }
  CHECK(kept > 24000);
  CHECK(kept < 26000);
}

TEST_CASE("split_request samples spans by trace id and keeps every ERROR span",
          "[wire][sampling]") {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  auto* ss = req.add_resource_spans()->add_scope_spans();
  auto add = [&](char last, bool error) {
    auto* s = ss->add_spans();
    s->set_name(std::string(last == '\x10' ? "low" : "high") + (error ? "-error" : ""));
    std::string id(16, '\0');
    id[8] = last;
    s->set_trace_id(id);
    s->set_span_id(std::string(8, '\x01'));
    if (error) s->mutable_status()->set_code(otlp::trace::v1::Status::STATUS_CODE_ERROR);
  };
  add('\x10', false);  // low: sampled at 0.5
  add('\xf0', false);  // high: not sampled
  add('\xf0', true);   // high but an error: kept
  sidelight::config::sampling_settings sampling;
  sampling.traces = 0.5;
  auto r = intake::split_request(signal::traces, req.SerializeAsString(), {}, &sampling);
  REQUIRE(r.error.empty());
  CHECK(r.items == 3);  // received, sampled out included
  CHECK(r.sampled_out == 1);
  REQUIRE(r.chunks.size() == 1);
  CHECK(r.chunks[0].items == 2);
  otlp::collector::trace::v1::ExportTraceServiceRequest back;
  REQUIRE(back.ParseFromString(std::string(*r.chunks[0].bytes)));
  const auto& spans = back.resource_spans(0).scope_spans(0).spans();
  REQUIRE(spans.size() == 2);
  CHECK(spans[0].name() == "low");
  CHECK(spans[1].name() == "high-error");

  sampling.traces = 0.0;  // nothing but errors
  r = intake::split_request(signal::traces, req.SerializeAsString(), {}, &sampling);
  CHECK(r.sampled_out == 2);
  REQUIRE(r.chunks.size() == 1);
  CHECK(r.chunks[0].items == 1);
}

TEST_CASE("split_request samples logs with a trace id, keeping errors and logs without one",
          "[wire][sampling]") {
  otlp::collector::logs::v1::ExportLogsServiceRequest req;
  auto* sl = req.add_resource_logs()->add_scope_logs();
  std::string high(16, '\xff');
  sl->add_log_records()->set_trace_id(high);  // not sampled
  auto* err = sl->add_log_records();
  err->set_trace_id(high);
  err->set_severity_number(otlp::logs::v1::SEVERITY_NUMBER_ERROR);      // kept
  sl->add_log_records()->mutable_body()->set_string_value("no trace");  // kept
  sidelight::config::sampling_settings sampling;
  sampling.logs = 0.1;
  auto r = intake::split_request(signal::logs, req.SerializeAsString(), {}, &sampling);
  REQUIRE(r.error.empty());
  CHECK(r.sampled_out == 1);
  REQUIRE(r.chunks.size() == 1);
  CHECK(r.chunks[0].items == 2);

  sampling.logs.reset();
  sampling.traces = 0.0;  // traces only: logs untouched
  r = intake::split_request(signal::logs, req.SerializeAsString(), {}, &sampling);
  CHECK(r.sampled_out == 0);
  CHECK(r.chunks[0].items == 3);
}

TEST_CASE(
    "split_request splits a Resource* over max_chunk_bytes into chunks under it, each with the "
    "resource and scope, every span once and in order",
    "[wire]") {
  auto req = traces(1, 0);
  auto* rs = req.mutable_resource_spans(0);
  rs->mutable_scope_spans(0)->set_schema_url("scope-schema");
  auto* second = rs->add_scope_spans();
  second->mutable_scope()->set_name("other-lib");
  std::vector<std::string> sent;
  for (int i = 0; i < 2000; ++i) {
    auto* sp = (i < 1200 ? rs->mutable_scope_spans(0) : second)->add_spans();
    sp->set_name("span-" + std::to_string(i));
    sp->set_trace_id(std::string(16, 'T'));
    sp->set_span_id(std::string(8, 'S'));
    sp->add_attributes()->set_key(std::string(100, 'k'));
    sent.push_back(sp->name());
  }
  auto bytes = req.SerializeAsString();
  constexpr std::uint64_t kLimit = 16 * 1024;
  REQUIRE(bytes.size() > 10 * kLimit);

  auto r = intake::split_request(signal::traces, bytes, additions(), nullptr, kLimit);
  REQUIRE(r.error.empty());
  CHECK(r.items == 2000);
  REQUIRE(r.chunks.size() > 10);
  std::uint64_t items = 0;
  std::vector<std::string> received;
  for (const auto& c : r.chunks) {
    CHECK(c.size() <= kLimit);
    items += c.items;
    otlp::collector::trace::v1::ExportTraceServiceRequest back;
    REQUIRE(back.ParseFromString(std::string(*c.bytes)));
    REQUIRE(back.resource_spans_size() == 1);
    const auto& piece = back.resource_spans(0);
    CHECK(attribute(piece.resource(), "service.name") == "client-0");
    CHECK(attribute(piece.resource(), "host.name") == "box");
    CHECK(piece.schema_url() == rs->schema_url());
    std::uint64_t spans_here = 0;
    for (const auto& scope : piece.scope_spans()) {
      CHECK(scope.spans_size() > 0);
      bool first_scope = scope.scope().name() == "lib";
      CHECK(scope.schema_url() == (first_scope ? "scope-schema" : ""));
      for (const auto& sp : scope.spans()) {
        auto n = std::stoi(sp.name().substr(5));
        CHECK(first_scope == (n < 1200));
        received.push_back(sp.name());
        ++spans_here;
      }
    }
    CHECK(c.items == spans_here);
  }
  CHECK(items == 2000);
  CHECK(received == sent);

  // Under the limit nothing changes.
  auto whole = intake::split_request(signal::traces, bytes, additions(), nullptr, 64 << 20);
  CHECK(whole.chunks.size() == 1);
}

TEST_CASE("split_request splits metrics between metrics and logs between records", "[wire]") {
  otlp::collector::metrics::v1::ExportMetricsServiceRequest metrics;
  auto* sm = metrics.add_resource_metrics()->add_scope_metrics();
  for (int i = 0; i < 300; ++i) {
    auto* m = sm->add_metrics();
    m->set_name(std::string(200, 'm') + std::to_string(i));
    auto* g = m->mutable_gauge();
    for (int p = 0; p < 3; ++p)
      g->add_data_points()->set_as_int(p);
  }
  auto r = intake::split_request(signal::metrics, metrics.SerializeAsString(), {}, nullptr, 8192);
  REQUIRE(r.error.empty());
  CHECK(r.items == 900);
  REQUIRE(r.chunks.size() > 5);
  std::uint64_t points = 0;
  for (const auto& c : r.chunks) {
    CHECK(c.size() <= 8192);
    CHECK(c.items % 3 == 0);  // whole metrics, with all their points
    points += c.items;
  }
  CHECK(points == 900);

  otlp::collector::logs::v1::ExportLogsServiceRequest logs;
  auto* sl = logs.add_resource_logs()->add_scope_logs();
  for (int i = 0; i < 100; ++i)
    sl->add_log_records()->mutable_body()->set_string_value(std::string(500, 'x'));
  auto l = intake::split_request(signal::logs, logs.SerializeAsString(), {}, nullptr, 4096);
  std::uint64_t records = 0;
  for (const auto& c : l.chunks) {
    CHECK(c.size() <= 4096);
    records += c.items;
  }
  CHECK(records == 100);
  CHECK(l.chunks.size() >= 13);
}

TEST_CASE("split_request sends an item larger than max_chunk_bytes alone", "[wire]") {
  auto req = traces(1, 3);
  req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1)->set_name(
      std::string(10000, 'n'));
  auto r = intake::split_request(signal::traces, req.SerializeAsString(), {}, nullptr, 4096);
  REQUIRE(r.error.empty());
  REQUIRE(r.chunks.size() == 3);
  CHECK(r.chunks[0].items == 1);
  CHECK(r.chunks[1].items == 1);
  CHECK(r.chunks[1].size() > 10000);
  CHECK(r.chunks[2].items == 1);
}

TEST_CASE("split_request shares chunks up to max_chunk_bytes and leaves empty resources out",
          "[wire]") {
  auto req = traces(40, 3);
  req.add_resource_spans();  // no scope, no span: nothing to carry
  auto bytes = req.SerializeAsString();
  auto r = intake::split_request(signal::traces, bytes, additions(), nullptr, 4096);
  REQUIRE(r.error.empty());
  CHECK(r.items == 120);
  REQUIRE(r.chunks.size() > 1);
  std::uint64_t items = 0;
  int resources = 0;
  for (const auto& c : r.chunks) {
    CHECK(c.bytes->size() <= 4096);
    items += c.items;
    otlp::collector::trace::v1::ExportTraceServiceRequest part;
    REQUIRE(part.ParseFromString(std::string(*c.bytes)));
    resources += part.resource_spans_size();
  }
  CHECK(items == 120);
  CHECK(resources == 40);
}

TEST_CASE("split_request refuses a request that the added resource would blow up", "[wire]") {
  // A million ResourceSpans of one empty span each: six bytes apiece on the wire, each of which
  // would get every added resource attribute.
  otlp::collector::trace::v1::ExportTraceServiceRequest one;
  one.add_resource_spans()->add_scope_spans()->add_spans();
  auto piece = one.SerializeAsString();
  std::string bytes;
  for (int i = 0; i < 1'000'000; ++i)
    bytes += piece;
  auto r = intake::split_request(signal::traces, bytes, additions());
  CHECK_THAT(r.error, Catch::Contains("fewer, larger resources"));
  CHECK(r.chunks.empty());
}
