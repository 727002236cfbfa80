// What the admin endpoints and `sidelight status` show: a snapshot of the agent's state, taken on
// the agent's own thread and then rendered as JSON, Prometheus text or a table.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "admin/timeline.hpp"

namespace sidelight::admin {

struct instance_status {
  std::string target;
  std::string kind;  // pid | pidfile | process | systemd_unit | socket
  std::string instance_id;
  bool up = false;
  std::optional<pid_t> pid;
  double uptime_seconds = 0;
  std::uint64_t restarts = 0;
  std::string reason;                    // why it is down
  std::int64_t last_change_unix_ns = 0;  // 0 when not seen change since sidelight started
  std::string last_change;               // up | down | restart
};

struct exporter_status {
  std::string name;
  std::string endpoint;
  bool upstream_ok = true;
  std::uint64_t points_exported = 0;
  std::uint64_t points_rejected = 0;
  std::uint64_t points_superseded = 0;
  std::uint64_t requests_ok = 0;
  std::uint64_t requests_failed = 0;
  std::uint64_t retries = 0;
  std::uint64_t pending_states = 0;
  double last_latency_seconds = 0;
  std::string last_error;
};

// One exporter's lane for one signal of client telemetry. Its books always balance:
// received = exported + dropped (all reasons) + queued + in_flight.
struct lane_status {
  std::string exporter;
  std::string signal;  // traces | metrics | logs
  bool upstream_ok = true;
  std::uint64_t received = 0;
  std::uint64_t recovered = 0;  // of those, read back from the spool at start
  std::uint64_t exported = 0;
  std::map<std::string, std::uint64_t> dropped;  // by reason
  std::uint64_t queued_items = 0;
  std::uint64_t queued_bytes = 0;
  std::uint64_t in_flight = 0;
  std::uint64_t requests_ok = 0;
  std::uint64_t requests_failed = 0;
  std::uint64_t retries = 0;
  std::vector<double> latency_bounds;          // seconds; the last bucket (+Inf) has no bound
  std::vector<std::uint64_t> latency_buckets;  // per bucket, not cumulative
  double latency_sum_seconds = 0;
  std::string last_error;

  std::uint64_t dropped_total() const {
    std::uint64_t n = 0;
    for (const auto& [reason, count] : dropped)
      n += count;
    return n;
  }
};

// One intake protocol's listener.
struct intake_status {
  std::string protocol;  // otlp_grpc | ndjson
  std::string address;
  std::uint64_t requests = 0;  // requests, or NDJSON lines
  std::uint64_t items = 0;
  std::uint64_t sampled_out = 0;
  std::uint64_t rejected = 0;  // refused at queue.memory_limit
  std::uint64_t bytes = 0;
  std::uint64_t bad = 0;
  std::uint64_t connections = 0;
  std::uint64_t connections_evicted = 0;
  std::int64_t open_connections = 0;
};

struct status_snapshot {
  std::string version;
  pid_t pid = 0;
  std::int64_t started_unix_ns = 0;
  std::int64_t now_unix_ns = 0;
  std::string config_path;
  std::uint64_t reloads_applied = 0;
  std::uint64_t reloads_refused = 0;
  std::vector<instance_status> instances;
  std::vector<exporter_status> exporters;
  std::vector<lane_status> lanes;
  std::vector<intake_status> intake;
  std::vector<target_timeline> timeline;  // each target's last hour

  // Ready when every exporter's last request succeeded; the reasons when not.
  std::vector<std::string> not_ready_reasons() const;
};

}  // namespace sidelight::admin
