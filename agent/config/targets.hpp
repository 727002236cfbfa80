// The targets section: what to watch, each with a name and exactly one identity.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <vector>

#include "config/common.hpp"

namespace re2 {
class RE2;
}

namespace sidelight::config {

struct process_match {
  std::optional<std::string> comm;     // equals /proc/PID/comm
  std::optional<std::string> exe;      // executable base name or full path
  std::optional<std::string> cmdline;  // regular expression (RE2) searched in the command line
  std::shared_ptr<const re2::RE2> cmdline_re;
  std::optional<uid_t> uid;  // from `user`, a name or a number
};

struct socket_check {
  enum class family { tcp, unix_path };
  enum class method { listen, connect };
  family kind = family::tcp;
  std::string host;  // tcp: an IP literal, or empty for "any local address"
  std::uint16_t port = 0;
  std::string path;  // unix
  method check = method::listen;
  duration timeout = std::chrono::seconds(1);
  duration probe_interval = std::chrono::milliseconds(500);
  // check: connect: written once connected, and what the answer must hold (like Monit's
  // send/expect); empty: connecting is enough.
  std::string send;
  std::string expect;
};

// An HTTP probe of a live target: GET `url` must answer `expect_status` within `timeout`, or the
// target is degraded. The URL names an IP literal or localhost, so nothing is resolved.
struct http_probe {
  std::string url;      // as configured; empty: no probe
  std::string address;  // the IP literal to connect to
  std::uint16_t port = 80;
  std::string host;  // the Host header: the URL's host[:port]
  std::string path = "/";
  std::uint32_t expect_status = 200;
  duration timeout = std::chrono::seconds(1);
  // Once the whole configuration is read, the target's heartbeat interval when not given.
  std::optional<duration> interval;

  bool enabled() const { return !url.empty(); }
};

struct crash_loop_settings {
  std::uint32_t restarts = 3;
  duration window = std::chrono::minutes(10);
};

struct target {
  enum class kind { pid, pidfile, process, systemd_unit, socket };

  std::string name;  // service.name
  std::string version;
  std::optional<duration> interval;  // overrides heartbeat.interval
  attributes resource;
  bool process_metrics = true;
  std::string container_name;  // k8s.container.name: the pod spec's container that runs it
  // Live instances (running or degraded) the target needs to count as up; fewer is down.
  std::uint32_t min_instances = 1;
  // So many restarts within the window make the target crash_loop instead of running.
  crash_loop_settings crash_loop;
  // A live target that fails it is degraded, not down.
  http_probe http;

  kind identity = kind::pid;
  pid_t pid = 0;
  std::string pidfile;
  process_match process;
  std::string systemd_unit;
  socket_check socket;

  position where;
};

std::string_view to_string(target::kind k);

const schema::table<target>& target_table();
// The probe's interval where the target's is implied (config::config::interval_of).
void resolve_probe_interval(target& t, duration heartbeat_interval);
// Target names become service.name: two targets must not share one.
void check_unique_names(const schema::field& list, std::vector<target>& targets);

}  // namespace sidelight::config
