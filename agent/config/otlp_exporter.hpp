// An OTLP exporter (`exporters.otlp` or `otlp/NAME`): its endpoints, wire, TLS, retry and spool.
#pragma once

#include <vector>

#include "config/address.hpp"
#include "config/common.hpp"
#include "config/env_expand.hpp"
#include "config/retry.hpp"
#include "config/tls.hpp"

namespace sidelight::config {

// An exporter's on-disk spool (off while `dir` is empty): see pipeline/spool.hpp.
struct spool_settings {
  std::string dir;                       // one subdirectory per signal is made in it
  std::uint64_t max_bytes = 1ull << 30;  // per signal; the oldest records go first beyond it
  bool fsync = false;                    // fdatasync each append: survive a power loss too
};

struct otlp_exporter {
  enum class protocol { grpc, http_protobuf };
  enum class compression { none, gzip };

  // How several endpoints share the work: failover sends to the first one that works, in the
  // order given; round_robin takes turns. Either moves on to the next endpoint at once when one
  // fails in a way worth retrying.
  enum class balancing { failover, round_robin };

  std::string name;               // "otlp" or "otlp/<suffix>"
  endpoint target;                // the first (or only) endpoint
  std::vector<endpoint> targets;  // every endpoint, `target` first
  balancing balance = balancing::failover;
  protocol wire = protocol::grpc;
  std::vector<std::pair<std::string, std::string>> headers;
  compression codec = compression::gzip;
  duration timeout = std::chrono::seconds(10);
  tls_settings tls;
  retry_settings retry;
  spool_settings spool;
  // 0 disables keepalive pings (gRPC's default). Servers built on grpc-go refuse pings more often
  // than every 5 minutes unless configured to allow them.
  duration keepalive_time = std::chrono::seconds(0);
  duration keepalive_timeout = std::chrono::seconds(10);
  position where;

  // TLS is used unless the endpoint says http:// or unix:, or tls.insecure is set.
  bool use_tls() const;
};

const schema::table<otlp_exporter>& otlp_exporter_table();

// The OTEL_EXPORTER_OTLP_* variables an SDK would honour, as the defaults of every otlp exporter
// (the file wins where both speak). The endpoint is kept as text in `target.text` until the
// protocol is known. False when OTEL_EXPORTER_OTLP_HEADERS has entries that are not key=value.
bool apply_otel_exporter_env(const env_lookup& env, otlp_exporter& out);

}  // namespace sidelight::config
