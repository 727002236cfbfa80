// sidelight's own numbers as OTLP metrics on its self-telemetry: every metric of the stats
// catalogue meant for OTLP, rendered from whatever the components report. Counters are
// cumulative sums from the agent's start; labels become data point attributes.
#pragma once

#include <cstdint>

#include "opentelemetry/proto/metrics/v1/metrics.pb.h"
#include "stats/stats.hpp"

namespace sidelight::heartbeat {

void add_self_metrics(const stats::source& source,
                      opentelemetry::proto::metrics::v1::ScopeMetrics& scope,
                      std::int64_t start_unix_ns, std::int64_t now_unix_ns);

}  // namespace sidelight::heartbeat
