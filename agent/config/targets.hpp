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
};

struct target {
  enum class kind { pid, pidfile, process, systemd_unit, socket };

  std::string name;  // service.name
  std::string version;
  std::optional<duration> interval;  // overrides heartbeat.interval
  attributes resource;
  bool process_metrics = true;
  std::string container_name;  // k8s.container.name: the pod spec's container that runs it

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
// Target names become service.name: two targets must not share one.
void check_unique_names(const schema::field& list, std::vector<target>& targets);

}  // namespace sidelight::config
