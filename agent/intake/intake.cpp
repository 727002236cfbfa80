#include "intake/intake.hpp"

#include <mutex>

namespace sidelight::intake {

namespace {

using stats::kind;

constexpr stats::metric kRequests{"sidelight.intake.requests", "{request}", kind::counter,
                                  "Requests received, by protocol (NDJSON: lines).", "requests"};
constexpr stats::metric kItems{"sidelight.intake.items", "{item}", kind::counter,
                               "Client items accepted, by protocol.", "items"};
constexpr stats::metric kSampledOut{"sidelight.intake.sampled_out", "{item}", kind::counter,
                                    "Of the items accepted, those left out by head sampling.",
                                    "sampled_out"};
constexpr stats::metric kRejected{
    "sidelight.intake.rejected", "{request}", kind::counter,
    "Requests (NDJSON: lines) refused at queue.memory_limit or intake.max_buffered_bytes, with a "
    "time to retry.",
    "rejected"};
constexpr stats::metric kThrottled{
    "sidelight.intake.throttled", "{request}", kind::counter,
    "Requests refused with a time to retry because a full queue pushed back (queue.when_full); "
    "NDJSON: times a stream was left unread for it.",
    "throttled"};
constexpr stats::metric kBytes{"sidelight.intake.bytes", "By", kind::counter,
                               "Encoded bytes accepted, by protocol.", "bytes"};
constexpr stats::metric kBad{"sidelight.intake.bad_requests", "{request}", kind::counter,
                             "Requests (NDJSON: lines) refused as malformed.", "bad"};
constexpr stats::metric kConnections{"sidelight.intake.connections", "{connection}", kind::counter,
                                     "Client connections accepted.", "connections"};
constexpr stats::metric kEvicted{
    "sidelight.intake.connections.evicted", "{connection}", kind::counter,
    "Connections closed at max_connections to make room (the one idle the longest).",
    "connections_evicted"};
constexpr stats::metric kOpen{"sidelight.intake.connections.open", "{connection}", kind::gauge,
                              "Client connections open now.", "open_connections"};

constexpr stats::metric kBuffered{
    "sidelight.intake.buffered", "By", kind::gauge,
    "Bytes client connections hold in requests and lines still being read, beyond 64 KiB each.",
    "intake_buffered_bytes"};
constexpr stats::metric kBufferLimit{"sidelight.intake.buffered.limit", "By", kind::gauge,
                                     "intake.max_buffered_bytes; 0: no limit.",
                                     "intake_buffered_limit_bytes"};

}  // namespace

void report(stats::sink& out, const buffer_budget& buffers) {
  out.value(kBuffered, {}, static_cast<double>(buffers.held()));
  out.value(kBufferLimit, {}, static_cast<double>(buffers.limit()));
}

void report(stats::sink& out, protocol p, const protocol_counters& c, std::string_view address) {
  auto n = [](const auto& counter) { return static_cast<double>(counter.load()); };
  out.open("intake", {{"protocol", to_string(p)}});
  out.fact("address", address);
  out.value(kRequests, {}, n(c.requests));
  out.value(kItems, {}, n(c.items));
  out.value(kSampledOut, {}, n(c.sampled_out));
  out.value(kRejected, {}, n(c.rejected));
  out.value(kThrottled, {}, n(c.throttled));
  out.value(kBytes, {}, n(c.bytes));
  out.value(kBad, {}, n(c.bad_requests));
  out.value(kConnections, {}, n(c.connections));
  out.value(kEvicted, {}, n(c.connections_evicted));
  out.value(kOpen, {}, n(c.open_connections));
  out.close();
}

std::string_view to_string(protocol p) {
  switch (p) {
    case protocol::otlp_grpc:
      return "otlp_grpc";
    case protocol::otlp_http:
      return "otlp_http";
    case protocol::ndjson:
      return "ndjson";
  }
  return "unknown";
}

void intake_policy::set_common(resource r) {
  auto shared = std::make_shared<const resource>(std::move(r));
  std::unique_lock lock(mutex_);
  common_ = std::move(shared);
}

void intake_policy::set_instance(const watch::process_identity& process, resource r) {
  auto shared = std::make_shared<const resource>(std::move(r));
  std::unique_lock lock(mutex_);
  instances_[process.pid] = {process.start_ticks, std::move(shared)};
}

void intake_policy::erase_instance(const watch::process_identity& process) {
  std::unique_lock lock(mutex_);
  auto it = instances_.find(process.pid);
  if (it != instances_.end() && it->second.start_ticks == process.start_ticks) instances_.erase(it);
}

void intake_policy::set_sampling(config::sampling_settings s) {
  std::unique_lock lock(mutex_);
  sampling_ = s;
}

config::sampling_settings intake_policy::sampling() const {
  std::shared_lock lock(mutex_);
  return sampling_;
}

intake_policy::origin intake_policy::lookup(const peer_identity& sender) const {
  std::shared_lock lock(mutex_);
  if (sender.pid > 0) {
    auto it = instances_.find(sender.pid);
    if (it != instances_.end() && it->second.start_ticks == sender.start_ticks) {
      return {it->second.additions, true};
    }
  }
  return {common_, false};
}

std::string describe_peer(pid_t pid) {
  if (pid <= 0) return "unknown client";
  auto comm = watch::read_comm(pid).value_or("");
  return "pid " + std::to_string(pid) + (comm.empty() ? "" : " (" + comm + ")");
}

}  // namespace sidelight::intake
