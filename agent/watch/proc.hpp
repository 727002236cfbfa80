// Reads what the kernel says about a process under /proc. No state, no I/O beyond /proc; every
// file is read through sys::read_file (never blocking, bounded).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sidelight::watch {

// A process, told apart from any later process that reuses its PID by its start time.
struct process_identity {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;  // field 22 of /proc/PID/stat: clock ticks after boot
  bool operator==(const process_identity&) const = default;
};

struct process_stat {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';
  std::string comm;
  std::uint64_t flags = 0;
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::int64_t threads = 0;
  std::uint64_t start_ticks = 0;
  std::uint64_t vsize_bytes = 0;
  std::uint64_t rss_pages = 0;

  process_identity identity() const { return {pid, start_ticks}; }
  bool zombie() const { return state == 'Z' || state == 'X' || state == 'x'; }
  bool kernel_thread() const { return (flags & 0x00200000) != 0 || pid == 2 || ppid == 2; }
};

// Parses the text of /proc/PID/stat; the comm may itself contain spaces and parentheses.
std::optional<process_stat> parse_stat(pid_t pid, std::string_view text);

std::optional<process_stat> read_stat(pid_t pid);
std::optional<std::string> read_comm(pid_t pid);
// argv joined by single spaces; empty for kernel threads and zombies.
std::optional<std::string> read_cmdline(pid_t pid);
// Target of /proc/PID/exe (" (deleted)" removed); nullopt without permission.
std::optional<std::string> read_exe(pid_t pid);
std::optional<uid_t> read_owner(pid_t pid);
std::optional<std::int64_t> count_open_fds(pid_t pid);

// The process is alive (not a zombie) and still the same one.
bool is_running(const process_identity& id);

// Every numeric entry of /proc.
std::vector<pid_t> list_pids();

long clock_ticks_per_second();
std::uint64_t page_size();
// Wall-clock time of boot in nanoseconds since the epoch (CLOCK_REALTIME - CLOCK_BOOTTIME).
std::int64_t boot_time_unix_ns();
std::int64_t ticks_to_unix_ns(std::uint64_t start_ticks);
std::int64_t now_unix_ns();

}  // namespace sidelight::watch
