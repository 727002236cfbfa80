// What the admin endpoints and `sidelight status` show: a snapshot of the agent's state, taken on
// the agent's own thread and then rendered as JSON, Prometheus text or a table.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

  // Ready when every exporter's last request succeeded; the reasons when not.
  std::vector<std::string> not_ready_reasons() const;
};

}  // namespace sidelight::admin
