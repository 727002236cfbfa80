// The export stage owns talking to upstream: it takes serialized OTLP Export*ServiceRequests and
// delivers them (OTLP/gRPC or OTLP/HTTP to a collector, a file or the console), classifying every
// outcome as done, retryable or permanent. It keeps nothing; queues, retries and accounting belong
// to the pipeline.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/payload.hpp"
#include "codec/signal.hpp"

namespace sidelight::exporting {

using codec::signal;

struct export_outcome {
  enum class kind { ok, retryable, permanent };
  kind result = kind::ok;
  std::string message;                                   // empty when ok
  std::optional<std::chrono::milliseconds> retry_after;  // the upstream's hint, when it gave one
  std::int64_t rejected = 0;  // partial success: items the upstream refused
  std::chrono::nanoseconds latency{0};
};

// Partial success from an Export*ServiceResponse: how many items the upstream refused (a negative
// count reads as none), and why. Bytes that do not parse leave `out` as it is.
void read_partial_success(signal s, const std::string& response, export_outcome& out);

// An upstream's hint never delays past `max_wait` (retry.max_interval): an absurd RetryInfo or
// Retry-After must not keep heartbeats from being sent for longer than the backoff would.
void limit_retry_after(export_outcome& out, std::chrono::nanoseconds max_wait);

class exporter {
 public:
  using done_fn = std::function<void(export_outcome)>;

  virtual ~exporter() = default;
  virtual const std::string& name() const = 0;

  // Sends one serialized Export{Traces,Metrics,Logs}ServiceRequest. `done` is called exactly once,
  // from any thread; after shutdown() with a retryable "exporter stopped" outcome.
  virtual void send(signal s, codec::payload_ptr request, done_fn done) = 0;

  // Whether send_parts() writes a request's pieces one after another, never joining them.
  virtual bool sends_parts() const { return false; }
  // One request given as its pieces in order, each whole fields of it (a lane's chunks), kept
  // alive until `done`. A lane calls it only when sends_parts(); the default joins them.
  virtual void send_parts(signal s, std::vector<codec::payload_ptr> parts, done_fn done) {
    send(s, codec::join(parts), std::move(done));
  }

  // Cancels whatever is in flight and refuses new sends; idempotent, safe without any send.
  virtual void shutdown() = 0;

  // Calls `answered` from the thread that finishes this exporter's requests, once that thread has
  // got to it: how systemd's watchdog learns the thread still makes progress (app/watchdog.hpp).
  // An exporter that finishes on the caller's thread answers at once; so does one shut down.
  virtual void probe(std::function<void()> answered) { answered(); }
};

}  // namespace sidelight::exporting
