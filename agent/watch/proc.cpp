#include "watch/proc.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <ctime>

#include "sys/bounded_file.hpp"

namespace sidelight::watch {
namespace {

template <typename T>
bool to_number(std::string_view text, T& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

std::string proc_path(pid_t pid, const char* leaf) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "/proc/%d/%s", static_cast<int>(pid), leaf);
  return buf;
}

// A file of /proc/PID, cut at `limit` bytes; nullopt when it cannot be read.
std::optional<std::string> read_proc_file(pid_t pid, const char* leaf, std::size_t limit) {
  auto r = sys::read_file(proc_path(pid, leaf), {limit, sys::overflow::truncate, false});
  if (!r.ok()) return std::nullopt;
  return std::move(r.text);
}

}  // namespace

std::optional<process_stat> parse_stat(pid_t pid, std::string_view text) {
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  process_stat st;
  st.pid = pid;
  st.comm = std::string(text.substr(open + 1, close - open - 1));
  // Fields after the comm, numbered as in proc(5): 3 is state.
  std::string_view rest = text.substr(close + 1);
  int field = 2;
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ')
      rest.remove_prefix(1);
    if (rest.empty()) break;
    auto end = rest.find(' ');
    auto tok = rest.substr(0, end);
    ++field;
    bool ok = true;
    switch (field) {
      case 3:
        st.state = tok.empty() ? '?' : tok[0];
        break;
      case 4:
        ok = to_number(tok, st.ppid);
        break;
      case 9:
        ok = to_number(tok, st.flags);
        break;
      case 14:
        ok = to_number(tok, st.utime_ticks);
        break;
      case 15:
        ok = to_number(tok, st.stime_ticks);
        break;
      case 20:
        ok = to_number(tok, st.threads);
        break;
      case 22:
        ok = to_number(tok, st.start_ticks);
        break;
      case 23:
        ok = to_number(tok, st.vsize_bytes);
        break;
      case 24:
        ok = to_number(tok, st.rss_pages);
        break;
      default:
        break;
    }
    if (!ok) return std::nullopt;
    if (field >= 24) return st;
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  return std::nullopt;
}

std::optional<process_stat> read_stat(pid_t pid) {
  auto text = read_proc_file(pid, "stat", 4096);
  if (!text) return std::nullopt;
  return parse_stat(pid, *text);
}

std::optional<std::string> read_comm(pid_t pid) {
  auto text = read_proc_file(pid, "comm", 64);
  if (!text) return std::nullopt;
  if (!text->empty() && text->back() == '\n') text->pop_back();
  return text;
}

std::optional<std::string> read_cmdline(pid_t pid) {
  auto text = read_proc_file(pid, "cmdline", 32768);
  if (!text) return std::nullopt;
  while (!text->empty() && text->back() == '\0')
    text->pop_back();
  for (auto& c : *text) {
    if (c == '\0') c = ' ';
  }
  return text;
}

std::optional<std::string> read_exe(pid_t pid) {
  char buf[4096];
  ssize_t n = ::readlink(proc_path(pid, "exe").c_str(), buf, sizeof buf - 1);
  if (n <= 0) return std::nullopt;
  std::string path(buf, static_cast<std::size_t>(n));
  constexpr std::string_view deleted = " (deleted)";
  if (path.ends_with(deleted)) path.resize(path.size() - deleted.size());
  return path;
}

std::optional<uid_t> read_owner(pid_t pid) {
  struct stat st {};
  if (::stat(proc_path(pid, "").c_str(), &st) != 0) return std::nullopt;
  return st.st_uid;
}

std::optional<std::int64_t> count_open_fds(pid_t pid) {
  auto path = proc_path(pid, "fd");
  // Since Linux 6.2 the directory's size is the number of descriptors open: one call instead of
  // opening and listing it, which was most of the time a heartbeat spent on each process. Older
  // kernels say 0, and a process with none open has nothing to list.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  if (st.st_size > 0) return static_cast<std::int64_t>(st.st_size);
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return std::nullopt;
  std::int64_t n = 0;
  while (struct dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n;
}

bool is_running(const process_identity& id) {
  auto st = read_stat(id.pid);
  return st && !st->zombie() && st->start_ticks == id.start_ticks;
}

std::vector<pid_t> list_pids() {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  while (struct dirent* e = ::readdir(dir)) {
    pid_t pid = 0;
    if (to_number(std::string_view(e->d_name), pid) && pid > 0) out.push_back(pid);
  }
  ::closedir(dir);
  return out;
}

long clock_ticks_per_second() {
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  return ticks > 0 ? ticks : 100;
}

std::uint64_t page_size() {
  static const long size = ::sysconf(_SC_PAGESIZE);
  return size > 0 ? static_cast<std::uint64_t>(size) : 4096;
}

namespace {
std::int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

std::int64_t now_unix_ns() {
  return clock_ns(CLOCK_REALTIME);
}

std::int64_t boot_time_unix_ns() {
  return clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
}

std::int64_t ticks_to_unix_ns(std::uint64_t start_ticks) {
  auto ticks = clock_ticks_per_second();
  auto secs = static_cast<std::int64_t>(start_ticks / static_cast<std::uint64_t>(ticks));
  auto frac = static_cast<std::int64_t>(start_ticks % static_cast<std::uint64_t>(ticks));
  return boot_time_unix_ns() + secs * 1'000'000'000 + frac * 1'000'000'000 / ticks;
}

}  // namespace sidelight::watch
