// sidelight as systemd sees it. The journal: when JOURNAL_STREAM names stderr, every log line
// starts with its "<N>" priority and has no timestamp, and JSON lines carry the structured fields.
// The watchdog: WATCHDOG=1 datagrams on a NOTIFY_SOCKET of the test's own must arrive while
// sidelight is healthy, stop while its event loop or an exporter's thread is stopped, and come back
// when that thread runs again. One thread is stopped with ptrace (PTRACE_SEIZE, then
// PTRACE_INTERRUPT), which stops that thread alone. SIGSTOP would not do: even sent to one thread
// with tgkill it stops the whole process, the watchdog's own thread included, and the pings would
// stop for the wrong reason.
#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "support/harness.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kWatchdogUsec = "400000";  // 0.4 s: a ping every 0.2 s

// The receiving end of NOTIFY_SOCKET, as systemd binds it.
class notify_listener {
 public:
  explicit notify_listener(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("cannot bind " + path + ": " + std::strerror(errno));
    }
  }
  ~notify_listener() { ::close(fd_); }
  notify_listener(const notify_listener&) = delete;
  notify_listener& operator=(const notify_listener&) = delete;

  const std::string& path() const { return path_; }

  // The next datagram within `timeout`; empty when none came.
  std::string next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[512];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }

  // Waits for `message`; false when `timeout` passed without it.
  bool await(const std::string& message, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (auto now = std::chrono::steady_clock::now(); now < deadline;
         now = std::chrono::steady_clock::now()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      if (next(left) == message) return true;
    }
    return false;
  }

  // How many WATCHDOG=1 arrive during `window` (the whole window is waited out).
  int pings_during(std::chrono::milliseconds window) {
    int pings = 0;
    auto deadline = std::chrono::steady_clock::now() + window;
    for (auto now = std::chrono::steady_clock::now(); now < deadline;
         now = std::chrono::steady_clock::now()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      if (next(left) == "WATCHDOG=1") ++pings;
    }
    return pings;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Stops one thread of a child process with ptrace until destroyed; its other threads run on.
// Stopped at an arbitrary instruction, the thread could hold a lock the watchdog's own thread
// needs next (the event loop's queue, the logger's), which would silence the watchdog instead of
// letting it report: CI saw neither "no progress" nor "progress again" once. So the thread is
// stopped where it holds none of them, blocked in its loop's idle system call, and stopped again
// if it was caught anywhere else.
class thread_stop {
 public:
  thread_stop(pid_t pid, pid_t tid) : tid_(tid) {
    auto syscall_file =
        "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall";
    auto deadline = std::chrono::steady_clock::now() + bound(5s);
    for (int attempt = 1;; ++attempt) {
      stop();
      if (idle(syscall_file)) return;
      ::ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("thread " + std::to_string(tid) + " was never caught idle in " +
                                 std::to_string(attempt) + " stops");
      }
      ::sched_yield();
    }
  }
  ~thread_stop() { ::ptrace(PTRACE_DETACH, tid_, nullptr, nullptr); }
  thread_stop(const thread_stop&) = delete;
  thread_stop& operator=(const thread_stop&) = delete;

 private:
  void stop() {
    if (::ptrace(PTRACE_SEIZE, tid_, nullptr, nullptr) != 0 ||
        ::ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0) {
      throw std::runtime_error("ptrace " + std::to_string(tid_) + ": " + std::strerror(errno));
    }
    int status = 0;
    if (::waitpid(tid_, &status, __WALL) != tid_ || !WIFSTOPPED(status)) {
      throw std::runtime_error("thread " + std::to_string(tid_) + " did not stop");
    }
  }

  // Whether the stopped thread sits in the call its loop waits in: epoll_wait or epoll_pwait
  // (asio), poll or ppoll (gRPC's completion queue).
  static bool idle(const std::string& syscall_file) {
    long nr = -1;
    std::ifstream(syscall_file) >> nr;
    return nr == SYS_epoll_wait || nr == SYS_epoll_pwait || nr == SYS_poll || nr == SYS_ppoll;
  }

  pid_t tid_;
};

// The thread of `pid` named `name` (pthread_setname_np), or -1.
pid_t thread_named(pid_t pid, const std::string& name) {
  auto dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return -1;
  pid_t found = -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string comm;
    std::getline(std::ifstream(dir + "/" + e->d_name + "/comm"), comm);
    if (comm == name) found = static_cast<pid_t>(std::stol(e->d_name));
  }
  ::closedir(d);
  return found;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// Exporters with threads of their own; nothing listens on port 9, so they fail and retry, which
// is progress as far as the watchdog is concerned.
constexpr auto kConfig = R"(
heartbeat: { interval: 1s }
shutdown_timeout: 1s
targets: []
exporters:
  otlp/http: { endpoint: "http://127.0.0.1:9", protocol: http/protobuf }
  otlp/grpc: { endpoint: "127.0.0.1:9", tls: { insecure: true } }
)";

}  // namespace

TEST_CASE("WATCHDOG=1 arrives while the event loop and the exporters make progress", "[watchdog]") {
  temp_dir dir;
  notify_listener notify(dir / "notify");
  agent a(dir, kConfig,
          {"NOTIFY_SOCKET=" + notify.path(), std::string("WATCHDOG_USEC=") + kWatchdogUsec});
  REQUIRE(notify.await("READY=1", bound(10s)));
  for (int i = 0; i < 3; ++i) {
    INFO("WATCHDOG=1 number " << i + 1 << " within 2 s (one is due every 0.2 s)");
    CHECK(notify.await("WATCHDOG=1", bound(2s)));
  }
  CHECK(a.log().find("watchdog: telling systemd every 0.2s") != std::string::npos);
}

TEST_CASE("no WATCHDOG=1 when WATCHDOG_PID names another process", "[watchdog]") {
  temp_dir dir;
  notify_listener notify(dir / "notify");
  agent a(dir, kConfig,
          {"NOTIFY_SOCKET=" + notify.path(), std::string("WATCHDOG_USEC=") + kWatchdogUsec,
           "WATCHDOG_PID=1"});
  REQUIRE(notify.await("READY=1", bound(10s)));
  CHECK(notify.pings_during(2s) == 0);
}

TEST_CASE("a stopped event loop or exporter thread stops WATCHDOG=1 until it runs again",
          "[watchdog]") {
#if defined(__SANITIZE_THREAD__)
  // A thread stopped at an arbitrary point may hold ThreadSanitizer's own locks, which then stop
  // the watchdog's thread too: the test would measure the sanitizer. The other builds run it.
  WARN("not run under ThreadSanitizer");
  return;
#endif
  temp_dir dir;
  notify_listener notify(dir / "notify");
  agent a(dir, kConfig,
          {"NOTIFY_SOCKET=" + notify.path(), std::string("WATCHDOG_USEC=") + kWatchdogUsec});
  REQUIRE(notify.await("READY=1", bound(10s)));
  REQUIRE(notify.await("WATCHDOG=1", bound(2s)));

  // The event loop runs on the main thread; each exporter names its own.
  struct wedge {
    std::string thread;
    std::string part;  // as the watchdog's log names it
  };
  std::size_t recovered = 0;
  for (const auto& w :
       {wedge{"sidelight", "event loop"}, wedge{"sl-http-export", "exporter otlp/http"},
        wedge{"sl-grpc-export", "exporter otlp/grpc"}}) {
    INFO("stopped thread: " << w.thread);
    pid_t tid = w.thread == "sidelight" ? a.pid() : thread_named(a.pid(), w.thread);
    REQUIRE(tid > 0);
    {
      thread_stop stopped(a.pid(), tid);
      // A round answered just before the stop may still be reported once; after that, nothing
      // for ten times the ping interval.
      CHECK(notify.pings_during(2s) <= 1);
      CHECK(a.wait_for_log("watchdog: no progress from " + w.part, bound(2s)));
    }
    CHECK(notify.await("WATCHDOG=1", bound(2s)));
    ++recovered;
    CHECK(count(a.log(), "watchdog: progress again") == recovered);
  }
  CHECK(a.running());
}
