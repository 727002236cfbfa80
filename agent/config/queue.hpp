// The queue and batch sections: how much each exporter's lanes hold, and how requests are cut.
#pragma once

#include "config/common.hpp"

namespace sidelight::config {

// What a full lane does (see docs/RELIABILITY.md): push back on intake (clients are told to
// retry later; NDJSON streams stop being read) or drop its oldest data.
enum class when_full {
  backpressure_then_drop_oldest,  // push back while the upstream answers; drop during an outage
  drop_oldest,
  backpressure,  // push back always; the queue's bound still holds
};

struct queue_settings {
  std::uint64_t max_bytes = 64ull << 20;
  when_full full = when_full::backpressure_then_drop_oldest;
  std::uint64_t max_items = 0;  // 0: bounded by bytes only
  // Bytes all queues may hold together (queued and in flight) before intake refuses new data
  // explicitly; 0: no such limit, each queue drops its oldest at max_bytes.
  std::uint64_t memory_limit = 0;
};

struct batch_settings {
  std::uint64_t max_items = 8192;
  std::uint64_t max_bytes = 4ull << 20;  // no request upstream is larger
  duration timeout = std::chrono::milliseconds(200);
};

const schema::table<queue_settings>& queue_table();
const schema::table<batch_settings>& batch_table();

}  // namespace sidelight::config
