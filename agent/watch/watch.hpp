// The watch stage owns finding each target's instances and knowing, at every moment, whether each
// is alive: PIDs, pidfiles, process matches, systemd units and sockets are turned into instances
// with an identity (PID and kernel start time), an uptime and a restart count. Exits are seen
// through pidfd as they happen; anything that can only be polled is polled cheaply. Every change
// is reported at once through a callback; nothing here knows about metrics or export.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "stats/stats.hpp"
#include "watch/exit_reason.hpp"
#include "watch/liveness_state.hpp"
#include "watch/proc.hpp"
#include "watch/timeline.hpp"

namespace sidelight::watch {

namespace asio = boost::asio;

struct process_facts {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;
  std::int64_t start_unix_ns = 0;
  std::string executable_name;  // base name of /proc/PID/exe, or comm when exe is unreadable
  std::string executable_path;  // empty when unreadable
  std::string container_id;     // container.id from /proc/PID/cgroup; empty outside a container

  process_identity identity() const { return {pid, start_ticks}; }
};

// One instance of a target as the rest of the agent sees it.
struct instance_report {
  std::string target;       // the target's name
  std::string instance_id;  // service.instance.id
  bool up = false;
  std::optional<process_facts> process;
  std::int64_t up_since_unix_ns = 0;  // 0 when it has never been up
  std::uint64_t restarts = 0;
  std::string reason;  // why it is down
  // On a down report: exited | signaled | oom_killed | stopped | unknown (service.down.reason).
  std::string down_reason;
  // On the report of a process's end: how it ended, as far as the kernel said.
  std::optional<exit_info> exit;
  std::optional<double> probe_seconds;
  change what = change::none;  // the change that caused this report (none on a tick)
  bool final = false;          // this instance is gone and will not be reported again
};

using report_handler = std::function<void(const instance_report&)>;

// How one round of a target's probe went: its http: probe, or a socket check: connect (with its
// send/expect). A live target whose probe fails is degraded, not down.
struct probe_outcome {
  bool ok = false;
  double seconds = 0.0;  // service.probe.duration
  // When it failed: timeout | connect_failed | wrong_status | expect_mismatch | bad_answer
  // (service.degraded.reason).
  std::string failure = {};
  std::string reason = {};  // what failed, in words
};

// The target as a whole, from its instances: what its target-level series say.
struct target_report {
  target_state state = target_state::down;
  std::uint64_t live = 0;  // instances running now
  std::uint64_t restarts = 0;
  double uptime_seconds = 0;            // of the longest-running live instance
  std::string down_reason;              // when down: as instance_report::down_reason
  std::string degraded_reason;          // when degraded: as probe_outcome::failure
  std::string reason;                   // why it is not running, in words; empty when running
  std::optional<double> probe_seconds;  // the last probe's; none before the first
  std::optional<std::uint64_t> probe_failures;  // since sidelight started; none without a probe
};

class process_events;
class socket_table;
class http_prober;

// When each instance of a target last changed, and how: kept as reports go by, so that the
// status shows it without anyone else keeping books on instances.
class change_book {
 public:
  struct entry {
    std::int64_t unix_ns = 0;
    change what = change::none;
  };
  void note(const instance_report& r);
  const entry* find(const std::string& instance_id) const;
  // The latest change of any instance: the target's last change.
  entry latest() const { return latest_; }
  // How the last instance to go down went (service.down.reason, and in words); empty if none has.
  const std::string& last_down_reason() const { return last_down_reason_; }
  const std::string& last_reason() const { return last_reason_; }
  // Instances that ended or were replaced since `since_unix_ns`, counting at most the last
  // `kMaxEnds`: a crash loop is told by these.
  std::size_t ends_since(std::int64_t since_unix_ns) const;
  static constexpr std::size_t kMaxEnds = 1024;

 private:
  std::map<std::string, entry> by_instance_;
  entry latest_;
  std::string last_down_reason_;
  std::string last_reason_;
  std::deque<std::int64_t> ends_;
};

// What all watchers of one agent share.
struct watch_context {
  asio::io_context& io;
  std::string host_name;
  process_events* events = nullptr;  // null when kernel process events are unavailable
  socket_table* sockets = nullptr;
  exit_reasons* exits = nullptr;  // null: every end is `unknown`
  config::duration discovery_interval = std::chrono::milliseconds(500);
};

class target_watcher;
// The target as a whole changed without an instance changing (its probe began or ceased to fail).
using target_handler = std::function<void(const target_watcher&)>;

class target_watcher {
 public:
  explicit target_watcher(const config::target& t);
  virtual ~target_watcher();
  target_watcher(const target_watcher&) = delete;
  target_watcher& operator=(const target_watcher&) = delete;

  // Begins watching (and probing); the first observation of every instance is reported promptly.
  void start();
  // Stops every timer, watch and probe; no report follows. Idempotent.
  void stop();
  // The current state of every instance, for a periodic heartbeat.
  virtual void for_each_instance(const std::function<void(const instance_report&)>& fn) const = 0;

  // Its numbers: section "targets" named by target and service, with its instances and its last
  // hour's periods (running, down, ...) nested.
  void visit(stats::sink& out) const;
  // The target as a whole now, from its instances; noted in its timeline.
  target_state note_state() const;
  target_report summary(std::int64_t now_unix_ns) const;

  const config::target& target() const { return target_; }
  // The last round of its probe; none before the first or without a probe.
  const std::optional<probe_outcome>& last_probe() const { return probe_; }

 protected:
  virtual void start_watching() = 0;
  virtual void stop_watching() = 0;
  // A round of the target's probe ended. The target is degraded while the last one failed; the
  // target handler hears when that changes.
  void note_probe(probe_outcome outcome) {
    if (record_probe(std::move(outcome))) probe_verdict_changed();
  }
  // The two halves, for a watcher whose probe also tells whether its instance is up: the verdict
  // is recorded first, so that the instance's report shows the target as it now is; true when it
  // changed, and then the watcher calls probe_verdict_changed() once the instance is updated.
  bool record_probe(probe_outcome outcome);
  void probe_verdict_changed();
  // An http: probe, or a socket check: connect.
  bool has_probe() const;

  config::target target_;

 private:
  friend std::shared_ptr<target_watcher> make_watcher(watch_context&, const config::target&,
                                                      report_handler, target_handler);
  std::shared_ptr<change_book> changes_ = std::make_shared<change_book>();
  mutable state_timeline timeline_;
  std::optional<probe_outcome> probe_;
  std::uint64_t probe_failures_ = 0;
  void add_probe(target_report& t) const;

  target_handler on_target_;
  std::shared_ptr<http_prober> http_;
};

std::shared_ptr<target_watcher> make_watcher(watch_context& ctx, const config::target& t,
                                             report_handler on_report,
                                             target_handler on_target = {});

// service.instance.id: a name-based UUID (version 5) of host, target and process identity, stable
// for one process lifetime and different for the next one.
std::string make_instance_id(const std::string& host, const std::string& target,
                             const std::optional<process_identity>& process);

// Reads pid, start time and executable for a live process.
std::optional<process_facts> read_process_facts(pid_t pid);

}  // namespace sidelight::watch
