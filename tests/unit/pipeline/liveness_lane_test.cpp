#include "pipeline/liveness_lane.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "held_exporter.hpp"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"

using namespace std::chrono_literals;
namespace pipeline = sidelight::pipeline;
namespace exporting = sidelight::exporting;
namespace codec = sidelight::codec;
namespace otlp = opentelemetry::proto;

namespace {

using sidelight::test::held_exporter;
using sidelight::test::run_until;

// One instance's state: a heartbeat data point with a ~1 KB resource attribute.
otlp::metrics::v1::ResourceMetrics state_of(int instance) {
  otlp::metrics::v1::ResourceMetrics rm;
  auto* kv = rm.mutable_resource()->add_attributes();
  kv->set_key("service.instance.id");
  kv->mutable_value()->set_string_value(std::to_string(instance) + std::string(1000, 'x'));
  auto* m = rm.add_scope_metrics()->add_metrics();
  m->set_name("service.heartbeat");
  m->mutable_gauge()->add_data_points()->set_as_int(0);
  return rm;
}

sidelight::config::retry_settings fast_retry() {
  sidelight::config::retry_settings r;
  r.initial_interval = 1ms;
  r.max_interval = 2ms;
  return r;
}

}  // namespace

TEST_CASE("liveness lane: states of gone instances past its bound go, the oldest first",
          "[liveness-lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto lane = std::make_shared<pipeline::liveness_lane>(io, exp, fast_retry(), 64 << 10);
  // The upstream is down: the first request fails and the lane waits.
  lane->offer("live", state_of(-1));
  run_until(io, [&] { return exp->calls.size() == 1; });
  exp->answer(exporting::export_outcome::kind::retryable);
  // Processes churn: 20,000 instances come and go, each leaving its down state (~20 MB).
  for (int i = 0; i < 20'000; ++i)
    lane->offer("gone-" + std::to_string(i), state_of(i), true);
  CHECK(lane->pending() < 20'000);
  CHECK(lane->pending() * 1000 < pipeline::liveness_lane::kMaxPendingBytes);
  CHECK(lane->stats().points_dropped == 20'000 + 1 - lane->pending());
  // The live instance's state stayed: gone ones leave first.
  // The upstream is back: every request within 64 KiB, and what stayed is delivered.
  std::size_t delivered = 0;
  while (lane->pending() > 0) {
    run_until(io, [&] { return !exp->calls.empty(); });
    auto size = exp->calls.front().request->size();
    CHECK(size <= 64u << 10);
    otlp::collector::metrics::v1::ExportMetricsServiceRequest req;
    REQUIRE(req.ParseFromArray(exp->calls.front().request->data(), static_cast<int>(size)));
    delivered += static_cast<std::size_t>(req.resource_metrics_size());
    exp->answer(exporting::export_outcome::kind::ok);
    io.restart();
    io.poll();
  }
  const auto& st = lane->stats();
  CHECK(st.points_exported == delivered);
  CHECK(st.points_exported + st.points_dropped == 20'001);
}

TEST_CASE("liveness lane: a state larger than a request travels alone", "[liveness-lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto lane = std::make_shared<pipeline::liveness_lane>(io, exp, fast_retry(), 512);
  lane->offer("a", state_of(1));
  lane->offer("b", state_of(2));
  run_until(io, [&] { return exp->calls.size() == 1; });
  CHECK(exp->calls.front().request->size() > 512);
  exp->answer(exporting::export_outcome::kind::ok);
  run_until(io, [&] { return exp->calls.size() == 1; });
  exp->answer(exporting::export_outcome::kind::ok);
  run_until(io, [&] { return lane->pending() == 0; });
  CHECK(lane->stats().requests_ok == 2);
}
