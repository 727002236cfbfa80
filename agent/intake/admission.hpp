// The one way in: every intake door (OTLP/gRPC, OTLP/HTTP, NDJSON streams and datagrams) hands
// what it read here, and only maps the verdict to its own status codes. Admission decides whether
// intake refuses now (queue.memory_limit), validates the request against the OTLP schema, applies
// head sampling, fills in the sender's resource attributes, counts, and delivers the chunks to the
// pipeline. Because it is one function, a count means the same thing for every protocol: each
// request (NDJSON: each line) is counted once in `requests`, and in at most one of `rejected` and
// `bad_requests`.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "codec/signal.hpp"
#include "intake/intake.hpp"

namespace sidelight::intake {

enum class verdict {
  accepted,
  malformed,   // the client's fault: a bad request, never to be retried as it is
  too_large,   // larger than max_message_size once inflated
  over_limit,  // queue.memory_limit or intake.max_buffered_bytes reached: retry after `retry_after`
  throttled,   // a full lane pushes back (queue.when_full): retry after `retry_after`
};

struct admit_result {
  verdict what = verdict::accepted;
  std::string error;  // why it was refused, for the client and the log
  std::chrono::milliseconds retry_after{0};
  bool accepted() const { return what == verdict::accepted; }
  bool retry_later() const { return what == verdict::over_limit || what == verdict::throttled; }
};

// How many requests one call stands for: 1 for OTLP; the good lines it carries for NDJSON.
struct units {
  std::uint64_t requests = 1;
  // The client can be told to retry later (OTLP). NDJSON cannot: a stream is held back by not
  // being read, and a datagram goes on to the lane, whose drops are counted.
  bool can_retry = true;
};

class admission {
 public:
  admission(const intake_policy& policy, deliver_fn deliver, protocol_counters& counters)
      : policy_(policy), deliver_(std::move(deliver)), counters_(counters) {}

  // The refusal in force now, before anything is read (so that an HTTP body need not be): at
  // queue.memory_limit (counted as rejected), or, when the client can retry, while a lane of `s`
  // pushes back (counted as throttled); `u.requests` requests either way.
  std::optional<admit_result> refusal(codec::signal s, units u = {}) const;
  // An Export*ServiceRequest in protobuf, inflated, from `sender` (0: unknown): refused as above,
  // or validated, sampled, enriched, counted and delivered.
  admit_result admit(codec::signal s, std::string_view request, const peer_identity& sender,
                     units u = {}) const;
  // A request refused before admit() could look at it (a bad method, encoding, gzip stream or
  // JSON body): counted as `u.requests` requests, bad.
  admit_result malformed(std::string error, verdict what = verdict::malformed, units u = {}) const;
  // A request (NDJSON: a line) refused part-read because intake.max_buffered_bytes could not
  // cover what was left of it: counted as rejected, to be retried later.
  admit_result buffers_full(units u = {}) const;

  // Inflates a gzip body into `out`, at most `max_size` bytes: nullopt when it did, else the
  // refusal, counted (too_large past the size, malformed for a broken stream).
  std::optional<admit_result> inflate(std::string_view gz, std::uint64_t max_size,
                                      std::string& out) const;

  const intake_policy& policy() const { return policy_; }
  protocol_counters& counters() const { return counters_; }

 private:
  const intake_policy& policy_;
  deliver_fn deliver_;
  protocol_counters& counters_;
};

// True for the service.name an SDK reports when it was not told one ("unknown_service" or
// "unknown_service:<process>"): enrichment treats it as absent.
bool is_default_service_name(std::string_view name);

}  // namespace sidelight::intake
