// One admission path: every protocol counts a request the same way, whatever its verdict.
#include "intake/admission.hpp"

#include <catch2/catch.hpp>

#include "intake/ndjson_server.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "pipeline/memory_budget.hpp"

namespace otlp = opentelemetry::proto;
namespace intake = sidelight::intake;
using sig = sidelight::codec::signal;

namespace {

struct fixture {
  intake::intake_policy policy;
  intake::protocol_counters counters;
  std::vector<otlp::trace::v1::ResourceSpans> delivered;
  std::shared_ptr<sidelight::pipeline::memory_budget> budget =
      std::make_shared<sidelight::pipeline::memory_budget>();
  intake::admission admit{
      policy,
      [this](sig s, sidelight::pipeline::chunk c) {
        if (s != sig::traces) return;
        // A chunk is a Resource* framed as field 1 of a request.
        otlp::collector::trace::v1::ExportTraceServiceRequest req;
        REQUIRE(req.ParseFromArray(c.bytes->data(), static_cast<int>(c.bytes->size())));
        for (auto& rs : req.resource_spans())
          delivered.push_back(rs);
      },
      counters};
  fixture() {
    policy.set_budget(budget);
    otlp::resource::v1::Resource common;
    auto* kv = common.add_attributes();
    kv->set_key("service.name");
    kv->mutable_value()->set_string_value("from-sidelight");
    policy.set_common(common);
  }
};

std::string one_span(const std::string& service) {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value(service);
  auto* s = rs->add_scope_spans()->add_spans();
  s->set_name("x");
  s->set_trace_id(std::string(16, 'T'));
  s->set_span_id(std::string(8, 'S'));
  return req.SerializeAsString();
}

std::string service_of(const otlp::trace::v1::ResourceSpans& rs) {
  for (const auto& kv : rs.resource().attributes())
    if (kv.key() == "service.name") return kv.value().string_value();
  return "<missing>";
}

}  // namespace

TEST_CASE("admission counts each request once, in at most one of rejected and bad", "[intake]") {
  fixture f;
  CHECK(f.admit.admit(sig::traces, one_span("app"), {}).accepted());
  CHECK(f.admit.admit(sig::traces, "\xff\xff garbage", {}).what == intake::verdict::malformed);
  f.budget->set_limit(1);
  f.budget->add(1);
  auto refused = f.admit.admit(sig::traces, one_span("app"), {});
  CHECK(refused.what == intake::verdict::over_limit);
  CHECK(refused.retry_after.count() > 0);
  CHECK(f.counters.requests == 3);
  CHECK(f.counters.items == 1);
  CHECK(f.counters.bad_requests == 1);
  CHECK(f.counters.rejected == 1);
  CHECK(f.delivered.size() == 1);
}

TEST_CASE("admission treats an SDK's unknown_service as no service.name", "[intake]") {
  fixture f;
  REQUIRE(f.admit.admit(sig::traces, one_span("unknown_service"), {}).accepted());
  REQUIRE(f.admit.admit(sig::traces, one_span("unknown_service:python3"), {}).accepted());
  REQUIRE(f.admit.admit(sig::traces, one_span("unknown_services"), {}).accepted());
  REQUIRE(f.delivered.size() == 3);
  CHECK(service_of(f.delivered[0]) == "from-sidelight");
  CHECK(service_of(f.delivered[1]) == "from-sidelight");
  CHECK(service_of(f.delivered[2]) == "unknown_services");  // a name someone chose
}

TEST_CASE("NDJSON lines go through admission: lines are requests, refusals are counted",
          "[intake]") {
  fixture f;
  intake::ndjson_batcher batcher(f.admit, 4096);
  intake::ndjson_batcher::result r;
  batcher.feed(
      "{\"message\":\"a\"}\nnot json\n{\"span\":{\"name\":\"s\",\"trace_id\":"
      "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"},"
      "\"service\":\"unknown_service\"}\n",
      true, {}, r);
  CHECK(r.lines == 3);
  CHECK(r.items == 2);
  CHECK(r.bad == 1);
  REQUIRE(f.delivered.size() == 1);
  CHECK(service_of(f.delivered[0]) == "from-sidelight");
  f.budget->set_limit(1);
  f.budget->add(1);
  intake::ndjson_batcher::result refused;
  batcher.feed("{\"message\":\"b\"}\n{\"message\":\"c\"}\n", true, {}, refused);
  CHECK(refused.rejected == 2);
  CHECK(f.counters.requests == 5);
  CHECK(f.counters.items == 2);
  CHECK(f.counters.bad_requests == 1);
  CHECK(f.counters.rejected == 2);
}
