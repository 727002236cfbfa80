// How a watched process ended, told by the kernel: the proc connector's exit event carries the
// wait status of any process (it needs CAP_NET_ADMIN), and while the process is a zombie its
// /proc/PID/stat still holds it (field 52) for anyone allowed to read it. An OOM kill is told by
// the process's memory cgroup counting one more (`oom_kill` in cgroup v2 memory.events, v1
// memory.oom_control) between the instance's start and its end. Where neither source answers the
// reason is `unknown`. Decoding raw connector datagrams is pure, so it is unit-tested and fuzzed.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "watch/proc.hpp"

namespace sidelight::watch {

struct exit_info {
  bool known = false;     // the kernel told us the wait status
  int wait_status = 0;    // as waitpid() gives it
  bool oom_kill = false;  // the memory cgroup counted an OOM kill while it ran

  // service.down.reason: exited | signaled | oom_killed | unknown.
  std::string down_reason() const;
  std::optional<int> exit_code() const;  // when it exited on its own
  int signal() const;                    // the signal that killed it, 0 if none
  bool core_dumped() const;
  // "exit code 3", "killed by SIGKILL (OOM)", "killed by SIGSEGV (core dumped)", "unknown".
  std::string describe() const;
};

// "SIGKILL" for 9; "signal N" for a number without a name.
std::string signal_name(int sig);

// One proc connector event about a whole process (thread events are left out).
struct proc_event_record {
  enum class kind { fork, exec, comm, exit };
  kind what = kind::exit;
  pid_t pid = 0;
  std::uint32_t wait_status = 0;  // exit only
};

// Decodes one datagram read from the proc connector socket: every netlink message in it that is a
// whole proc_event; truncated or malformed messages are skipped, never read beyond `size`.
std::vector<proc_event_record> decode_proc_events(const void* data, std::size_t size);

// The wait status /proc/PID/stat shows while `p` is a zombie (not yet reaped by its parent).
std::optional<int> read_zombie_status(const process_identity& p);
// Field 52 (exit_code) of the text of /proc/PID/stat, with its start time (field 22).
std::optional<std::pair<int, std::uint64_t>> parse_stat_exit_code(std::string_view text);

// The OOM kill count of the memory cgroup `pid` is in: the file it is read from, and the count.
struct oom_counter {
  std::string path;
  std::uint64_t kills = 0;
};
std::optional<oom_counter> read_oom_counter(pid_t pid);
std::optional<std::uint64_t> read_oom_kills(const std::string& path);

class process_events;

// Answers "how did this process end?" for the watchers, from the event loop.
class exit_reasons {
 public:
  // How long a resolve waits for the connector's exit event, which the kernel sends just after
  // it wakes the pidfd.
  static constexpr auto kEventWait = std::chrono::milliseconds(250);

  explicit exit_reasons(boost::asio::io_context& io) : io_(io) {}
  ~exit_reasons();
  exit_reasons(const exit_reasons&) = delete;
  exit_reasons& operator=(const exit_reasons&) = delete;

  // Takes exit events from `events` (null: none, and no waiting for them).
  void attach(process_events* events);
  // Notes what tells later how `p` ended: its memory cgroup's OOM count now.
  void track(const process_identity& p);
  // How `p` ended, handed to `done` from the event loop: the connector's exit event (awaited for
  // at most kEventWait when attached), else the zombie's status, else unknown.
  void resolve(const process_identity& p, std::function<void(exit_info)> done);

  // The connector's exit event for `pid`: for tests and the event handler.
  void on_exit_event(pid_t pid, std::uint32_t wait_status);

 private:
  struct waiter;
  struct seen_exit {
    std::uint32_t wait_status = 0;
    std::chrono::steady_clock::time_point at;
  };
  struct tracked {
    std::uint64_t start_ticks = 0;
    std::chrono::steady_clock::time_point since;
    std::optional<oom_counter> oom;
  };
  static constexpr std::size_t kMaxRemembered = 4096;

  exit_info finish(const process_identity& p, std::optional<int> status);
  std::optional<std::uint32_t> recent_exit(const process_identity& p) const;

  boost::asio::io_context& io_;
  process_events* events_ = nullptr;
  std::size_t subscription_ = 0;
  std::map<pid_t, seen_exit> recent_;
  std::map<pid_t, tracked> tracked_;
  std::multimap<pid_t, std::shared_ptr<waiter>> waiting_;
};

}  // namespace sidelight::watch
