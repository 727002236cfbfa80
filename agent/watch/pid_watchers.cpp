// `pid:` and `pidfile:` targets.
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <filesystem>

#include "sys/bounded_file.hpp"
#include "sys/log_limiter.hpp"
#include "watch/slot_watchers.hpp"

namespace sidelight::watch {
namespace {

using namespace std::chrono_literals;

// A static PID: the first process seen with it is the service, for good.
class pid_watcher final : public slot_watcher {
 public:
  pid_watcher(watch_context& ctx, const config::target& t, report_handler on_report)
      : slot_watcher(ctx, t, std::move(on_report), liveness_state::policy::pinned) {}

 private:
  void evaluate() override {
    auto facts = read_process_facts(target_.pid);
    if (facts) {
      set_up(*facts);
    } else {
      set_down("no process with pid " + std::to_string(target_.pid));
    }
  }
  config::duration poll_interval() const override { return is_up() ? 5s : 500ms; }
};

// How much a process's start time (10 ms ticks) may appear to follow the write of the pidfile that
// names it before we call it a stranger that reused the PID.
constexpr std::int64_t kPidfileTolerance = 100'000'000;
// A pidfile holds a number and a newline; anything longer is not a pidfile.
constexpr sys::read_limits kPidfileLimits{64, sys::overflow::refuse, true};

class pidfile_watcher final : public slot_watcher {
 public:
  pidfile_watcher(watch_context& ctx, const config::target& t, report_handler on_report)
      : slot_watcher(ctx, t, std::move(on_report), liveness_state::policy::follow),
        inotify_(ctx.io) {
    std::filesystem::path p(t.pidfile);
    directory_ = p.parent_path().string();
    file_name_ = p.filename().string();
  }

 private:
  void on_start() override { arm_inotify(); }
  void on_stop() override {
    boost::system::error_code ignored;
    inotify_.close(ignored);
  }

  // Watches the directory, not the file: services replace pidfiles by rename or delete and create.
  void arm_inotify() {
    if (inotify_.is_open()) return;
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return;
    if (::inotify_add_watch(fd, directory_.c_str(),
                            IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
      ::close(fd);  // the directory may appear later; the poll retries
      return;
    }
    inotify_.assign(fd);
    read_events();
  }

  void read_events() {
    inotify_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [weak = weak_from_this(), this](const boost::system::error_code& ec) {
                          auto self = weak.lock();
                          if (!self || ec) return;
                          on_events();
                        });
  }

  void on_events() {
    alignas(inotify_event) char buf[8192];
    bool relevant = false;
    bool directory_gone = false;
    for (;;) {
      ssize_t n = ::read(inotify_.native_handle(), buf, sizeof buf);
      if (n <= 0) break;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) directory_gone = true;
        if (ev->len > 0 && file_name_ == ev->name) relevant = true;
        if (ev->mask & IN_Q_OVERFLOW) relevant = true;
        p += sizeof(inotify_event) + ev->len;
      }
    }
    if (directory_gone) {
      boost::system::error_code ignored;
      inotify_.close(ignored);
      relevant = true;
    } else {
      read_events();
    }
    if (relevant) reevaluate_soon();
  }

  // What the pidfile names: a live process, or why not. `refused` marks a pidfile that is not
  // what a pidfile must be (worth a warning), as opposed to one that is missing or stale.
  struct reading {
    std::optional<process_facts> facts;
    std::string reason;
    bool refused = false;
  };

  reading read_pidfile() const {
    const auto& path = target_.pidfile;
    auto file = sys::read_file(path, kPidfileLimits);
    if (file.status == sys::file_status::missing)
      return {{}, "pidfile " + path + " does not exist"};
    if (!file.ok())
      return {{}, "pidfile " + path + " " + sys::describe(file, kPidfileLimits), true};
    std::string_view text(file.text);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
      text.remove_suffix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
      text.remove_prefix(1);
    // Empty while the service rewrites it: not worth a warning.
    if (text.empty()) return {{}, "pidfile " + path + " holds no pid"};
    pid_t pid = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
    if (ec != std::errc() || p != text.data() + text.size() || pid <= 0) {
      return {{}, "pidfile " + path + " holds no pid (" + printable(text) + ")", true};
    }
    auto named = "pidfile " + path + " names pid " + std::to_string(pid);
    if (pid == 1) return {{}, named + " (init), which is never a service's own process", true};
    if (pid == ::getpid()) return {{}, named + ", sidelight itself", true};
    auto st = read_stat(pid);
    if (st && st->kernel_thread())
      return {{}, named + ", a kernel thread (" + st->comm + ")", true};
    auto facts = read_process_facts(pid);
    if (!facts) return {{}, "process " + std::to_string(pid) + " from " + path + " is not running"};
    // A process that started after the pidfile was written did not write it: the service died
    // and an unrelated process reused its PID.
    if (facts->start_unix_ns > file.modified_unix_ns + kPidfileTolerance) {
      return {{},
              "pid " + std::to_string(pid) + " from " + path + " now belongs to another process"};
    }
    return {facts, ""};
  }

  void evaluate() override {
    arm_inotify();
    auto named = read_pidfile();
    warn_once(named);
    if (named.facts) {
      set_up(*named.facts);
      return;
    }
    // The pidfile names no live process. While the process we know is still running (the file is
    // being rewritten, or was removed by hand), it stays the service.
    if (is_up() && current_process() && is_running(current_process()->identity())) return;
    set_down(std::move(named.reason));
  }

  // A refused pidfile is logged at once, then at most once a minute per target, whatever it turns
  // into meanwhile: whoever can rewrite it cannot flood the log (the down reason is always
  // current).
  void warn_once(const reading& r) {
    if (r.refused && refusals_.allow()) {
      spdlog::warn("target {}: refusing the pidfile: {}{}", target_.name, r.reason,
                   refusals_.held_back());
    }
  }

  // Up to 32 bytes of what a bad pidfile holds, quoted, with anything unprintable escaped.
  static std::string printable(std::string_view text) {
    std::string out = "'";
    for (char c : text.substr(0, 32)) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u < 0x7f) {
        out += c;
      } else {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", u);
        out += hex;
      }
    }
    return out + (text.size() > 32 ? "...'" : "'");
  }

  config::duration poll_interval() const override {
    // inotify reports changes at once; the poll is a safety net (and retries a missing directory).
    return is_up() ? 5s : (inotify_.is_open() ? 2s : 500ms);
  }

  std::string directory_;
  std::string file_name_;
  boost::asio::posix::stream_descriptor inotify_;
  sys::log_limiter refusals_{std::chrono::minutes(1)};
};

}  // namespace

std::shared_ptr<target_watcher> make_pid_watcher(watch_context& ctx, const config::target& t,
                                                 report_handler on_report) {
  return std::make_shared<pid_watcher>(ctx, t, std::move(on_report));
}

std::shared_ptr<target_watcher> make_pidfile_watcher(watch_context& ctx, const config::target& t,
                                                     report_handler on_report) {
  return std::make_shared<pidfile_watcher>(ctx, t, std::move(on_report));
}

}  // namespace sidelight::watch
