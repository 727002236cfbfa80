#include "intake/admission.hpp"

#include "codec/gzip.hpp"
#include "intake/otlp_wire.hpp"

namespace sidelight::intake {

namespace {

using namespace std::chrono_literals;

// What a client refused at the memory limit is told to wait: the queues drain in about that long
// at the rates measured in docs/PERFORMANCE.md.
constexpr auto kOverLimitRetry = 1000ms;
// A lane that pushes back drains at the upstream's pace; a short wait keeps clients close behind.
constexpr auto kThrottledRetry = 100ms;

}  // namespace

bool is_default_service_name(std::string_view name) {
  return name == "unknown_service" || name.starts_with("unknown_service:");
}

std::optional<admit_result> admission::refusal(codec::signal s, units u) const {
  if (policy_.must_refuse()) {
    counters_.requests.fetch_add(u.requests, std::memory_order_relaxed);
    counters_.rejected.fetch_add(u.requests, std::memory_order_relaxed);
    return admit_result{verdict::over_limit,
                        "sidelight's queues are at queue.memory_limit; retry later",
                        kOverLimitRetry};
  }
  if (u.can_retry && policy_.pushed_back(s)) {
    counters_.requests.fetch_add(u.requests, std::memory_order_relaxed);
    counters_.throttled.fetch_add(u.requests, std::memory_order_relaxed);
    return admit_result{verdict::throttled,
                        "sidelight's queue for " + std::string(codec::to_string(s)) +
                            " is nearly full while its upstream catches up; retry later",
                        kThrottledRetry};
  }
  return std::nullopt;
}

admit_result admission::malformed(std::string error, verdict what, units u) const {
  counters_.requests.fetch_add(u.requests, std::memory_order_relaxed);
  counters_.bad_requests.fetch_add(u.requests, std::memory_order_relaxed);
  return admit_result{what, std::move(error), {}};
}

admit_result admission::buffers_full(units u) const {
  counters_.requests.fetch_add(u.requests, std::memory_order_relaxed);
  counters_.rejected.fetch_add(u.requests, std::memory_order_relaxed);
  return admit_result{verdict::over_limit,
                      "sidelight's connections hold intake.max_buffered_bytes in requests still "
                      "being read; retry later",
                      kOverLimitRetry};
}

std::optional<admit_result> admission::inflate(std::string_view gz, std::uint64_t max_size,
                                               std::string& out) const {
  auto err = codec::gunzip(gz, max_size, out);
  if (err.empty()) return std::nullopt;
  if (err == "too large") {
    return malformed("the request inflates to more than " + std::to_string(max_size) +
                         " bytes (max_message_size)",
                     verdict::too_large);
  }
  return malformed(err);
}

admit_result admission::admit(codec::signal s, std::string_view request,
                              const peer_identity& sender, units u) const {
  if (auto refused = refusal(s, u)) return *refused;
  auto origin = policy_.lookup(sender);
  auto sampling = policy_.sampling();
  auto result = split_request(s, request, *origin.additions, &sampling, policy_.max_chunk_bytes());
  if (!result.error.empty()) return malformed(std::move(result.error), verdict::malformed, u);
  counters_.requests.fetch_add(u.requests, std::memory_order_relaxed);
  counters_.items.fetch_add(result.items, std::memory_order_relaxed);
  counters_.sampled_out.fetch_add(result.sampled_out, std::memory_order_relaxed);
  counters_.bytes.fetch_add(request.size(), std::memory_order_relaxed);
  for (auto& c : result.chunks)
    deliver_(s, std::move(c));
  return {};
}

}  // namespace sidelight::intake
