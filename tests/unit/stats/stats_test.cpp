#include "stats/stats.hpp"

#include <catch2/catch.hpp>

using namespace sidelight::stats;

TEST_CASE("stats: Prometheus names follow OpenTelemetry's compatibility rule", "[stats]") {
  auto name = [](std::string_view n, std::string_view unit, kind k) {
    return prometheus_name(metric{n, unit, k, "", ""});
  };
  CHECK(name("sidelight.pipeline.items", "{item}", kind::counter) ==
        "sidelight_pipeline_items_total");
  CHECK(name("sidelight.queue.size", "By", kind::gauge) == "sidelight_queue_size_bytes");
  CHECK(name("sidelight.intake.bytes", "By", kind::counter) == "sidelight_intake_bytes_total");
  CHECK(name("sidelight.target.uptime", "s", kind::gauge) == "sidelight_target_uptime_seconds");
  CHECK(name("service.uptime_seconds", "s", kind::gauge) == "service_uptime_seconds");
  CHECK(name("service.heartbeat", "1", kind::gauge) == "service_heartbeat_ratio");
  CHECK(name("sidelight.retries", "1", kind::counter) == "sidelight_retries_total");
  CHECK(name("sidelight.exporter.up", "", kind::gauge) == "sidelight_exporter_up");
  CHECK(name("sidelight.export.latency", "s", kind::histogram) ==
        "sidelight_export_latency_seconds");
  CHECK(name("weird-name..x", "", kind::gauge) == "weird_name_x");
  CHECK(name("9lives", "", kind::gauge) == "_9lives");
  CHECK(name("requests_total", "", kind::counter) == "requests_total");
  CHECK(name("transfer", "KiBy", kind::counter) == "transfer_kibibytes_total");
  CHECK(prometheus_label("service.name") == "service_name");
}
