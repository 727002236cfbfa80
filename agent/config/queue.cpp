#include "config/queue.hpp"

#include "config/schema.hpp"

namespace sidelight::config {

using namespace std::chrono_literals;

const schema::table<queue_settings>& queue_table() {
  using namespace schema;
  using s = queue_settings;
  static const table<s> keys({
      size_key("max_bytes", &s::max_bytes,
               "What each queue (one per signal and exporter) may hold, queued and in flight; "
               "when_full says what happens when it is full. Each request queued in memory counts "
               "144 bytes of bookkeeping beside its encoded bytes, so tiny requests cannot hold "
               "several times this. With a spool, it bounds the entries kept in memory for what is "
               "on disk, about 128 bytes a request.",
               {.range = {.min = 64ull << 10}}),
      count_key("max_items", &s::max_items,
                "The items (spans, log records, metric points) each queue may hold; 0: bounded by "
                "bytes only."),
      choice_key("when_full", &s::full,
                 {{"backpressure_then_drop_oldest", when_full::backpressure_then_drop_oldest},
                  {"drop_oldest", when_full::drop_oldest},
                  {"backpressure", when_full::backpressure}},
                 "What a full queue does. backpressure_then_drop_oldest: while the upstream "
                 "answers, a queue three quarters full pushes back on intake (gRPC "
                 "RESOURCE_EXHAUSTED with a RetryInfo of 100ms, HTTP 429 with Retry-After: 1, "
                 "NDJSON streams left unread; counted as throttled), so a slow upstream slows the "
                 "clients instead of losing data; while it fails, the oldest is dropped "
                 "(queue_full). drop_oldest: never push back. backpressure: always push back. "
                 "NDJSON datagrams are never pushed back on; heartbeats are never affected."),
      size_key("memory_limit", &s::memory_limit,
               "Bytes all queues may hold together, queued and in flight (data queued for several "
               "exporters counts once for each). At the limit intake refuses new data "
               "explicitly: gRPC RESOURCE_EXHAUSTED with a RetryInfo of 1s, HTTP 429 with "
               "Retry-After: 1, NDJSON lines counted as rejected. 0: no such limit, each queue "
               "drops its oldest instead."),
  });
  return keys;
}

const schema::table<batch_settings>& batch_table() {
  using namespace schema;
  using s = batch_settings;
  static const table<s> keys({
      count_key("max_items", &s::max_items,
                "A batch leaves once it holds this many items (or max_bytes, or after timeout).",
                {.range = {.min = 1}}),
      size_key("max_bytes", &s::max_bytes,
               "The largest request sent upstream. A larger resource is split at intake; only a "
               "single span, log record or metric larger than this goes alone.",
               {.range = {.min = 64ull << 10}}),
      duration_key("timeout", &s::timeout,
                   "How long the oldest item may wait for its batch to fill. Requests are joined "
                   "at the byte level, never decoded on the way out."),
  });
  return keys;
}

}  // namespace sidelight::config
