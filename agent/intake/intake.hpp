// The intake stage owns the local doors through which applications hand over spans, logs and
// metrics: OTLP/gRPC and NDJSON on Unix sockets (and opt-in loopback TCP). It validates what
// arrives at the wire level, counts it, fills in the sender's resource attributes, and hands each
// Resource* to the pipeline as an encoded chunk. Bad input is answered to its sender, counted and
// logged (rate-limited); it never costs another client anything.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "codec/signal.hpp"
#include "config/config.hpp"
#include "intake/connections.hpp"
#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "pipeline/drop_oldest_queue.hpp"
#include "pipeline/memory_budget.hpp"
#include "pipeline/pressure.hpp"
#include "stats/stats.hpp"
#include "watch/proc.hpp"

namespace sidelight::intake {

// The process that sent data, fixed when it connected (or sent its datagram): its PID and start
// time. A PID alone is looked up too late: by the time a batch is handled the sender may have
// exited and a watched service taken its PID. pid 0: unknown (TCP, or the process was gone).
using peer_identity = watch::process_identity;

// Where accepted data goes; called from intake threads.
using deliver_fn = std::function<void(codec::signal, pipeline::chunk)>;

enum class protocol { otlp_grpc, otlp_http, ndjson };
inline constexpr std::size_t kProtocols = 3;
std::string_view to_string(protocol p);

// What each protocol has seen; written from intake threads, read by the admin endpoints.
struct protocol_counters {
  std::atomic<std::uint64_t> requests{0};      // requests, or NDJSON lines
  std::atomic<std::uint64_t> items{0};         // spans, log records, data points accepted
  std::atomic<std::uint64_t> sampled_out{0};   // of those, left out by head sampling
  std::atomic<std::uint64_t> bytes{0};         // encoded bytes accepted
  std::atomic<std::uint64_t> rejected{0};      // refused at the memory limit (NDJSON: lines)
  std::atomic<std::uint64_t> throttled{0};     // refused as a lane pushed back (NDJSON: reads held)
  std::atomic<std::uint64_t> bad_requests{0};  // refused as malformed (or bad NDJSON lines)
  std::atomic<std::uint64_t> connections{0};   // accepted in all
  std::atomic<std::uint64_t> connections_evicted{0};  // the longest idle, closed at the cap
  std::atomic<std::int64_t> open_connections{0};
};

// The counters as section "intake" named by the protocol, with the listener's address.
void report(stats::sink& out, protocol p, const protocol_counters& c, std::string_view address);

// What connections hold of requests still being read, and the bound (intake.max_buffered_bytes).
void report(stats::sink& out, const buffer_budget& buffers);

struct intake_counters {
  std::array<protocol_counters, kProtocols> by_protocol;
  protocol_counters& of(protocol p) { return by_protocol[static_cast<std::size_t>(p)]; }
  const protocol_counters& of(protocol p) const { return by_protocol[static_cast<std::size_t>(p)]; }
};

// What intake applies to whatever arrives: which resource attributes to fill in for data from a
// given process (the watched target instance's resource when the sender is one, otherwise the
// configured `resource:` and host.name), the head sampling in force, and whether the pipeline's
// memory limit makes intake refuse. Thread-safe; updated by the app as instances come and go and
// when the configuration is reloaded.
class intake_policy {
 public:
  using resource = opentelemetry::proto::resource::v1::Resource;

  void set_common(resource r);
  // A watched instance's resource, for data its process sends; erase_instance forgets it only
  // if that same process is still the one known under its PID.
  void set_instance(const watch::process_identity& process, resource r);
  void erase_instance(const watch::process_identity& process);
  // Head sampling applies to everything received after this call.
  void set_sampling(config::sampling_settings s);
  config::sampling_settings sampling() const;
  // batch.max_bytes: a Resource* larger than this is split into chunks that are not (see
  // split_request), so that no request upstream goes over it.
  void set_max_chunk_bytes(std::uint64_t n) { max_chunk_bytes_.store(n); }
  std::uint64_t max_chunk_bytes() const { return max_chunk_bytes_.load(); }
  void set_budget(std::shared_ptr<const pipeline::memory_budget> budget) {
    budget_ = std::move(budget);
  }
  // True while the queues hold queue.memory_limit bytes or more: refuse, and say when to retry.
  bool must_refuse() const { return budget_ && budget_->over(); }
  void set_pressure(std::shared_ptr<const pipeline::pressure> p) { pressure_ = std::move(p); }
  // True while a lane of `s` pushes back (queue.when_full): refuse, or stop reading, for now.
  bool pushed_back(codec::signal s) const { return pressure_ && pressure_->on(s); }

  // What connections of every door hold in requests and lines still being read, against
  // intake.max_buffered_bytes; each server takes its leases from here.
  buffer_budget& buffers() const { return *buffers_; }

  struct origin {
    std::shared_ptr<const resource> additions;
    bool watched = false;  // the sender is a watched target instance
  };
  // A sender is a watched instance only when both its PID and its start time match.
  origin lookup(const peer_identity& sender) const;

 private:
  mutable std::shared_mutex mutex_;
  std::shared_ptr<const resource> common_ = std::make_shared<resource>();
  struct instance {
    std::uint64_t start_ticks = 0;
    std::shared_ptr<const resource> additions;
  };
  std::map<pid_t, instance> instances_;
  config::sampling_settings sampling_;
  std::atomic<std::uint64_t> max_chunk_bytes_{0};
  std::shared_ptr<const pipeline::memory_budget> budget_;  // set once, before intake starts
  std::shared_ptr<const pipeline::pressure> pressure_;     // likewise
  std::shared_ptr<buffer_budget> buffers_ = std::make_shared<buffer_budget>();
};

// "pid 1234 (comm)" for log lines about a client; "unknown client" without a pid.
std::string describe_peer(pid_t pid);

}  // namespace sidelight::intake
