// `pid:` and `pidfile:` targets.
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <charconv>
#include <filesystem>

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

  void evaluate() override {
    arm_inotify();
    std::string reason;
    struct stat st {};
    auto content = read_small_file(target_.pidfile.c_str(), 64);
    if (!content || ::stat(target_.pidfile.c_str(), &st) != 0) {
      reason = "pidfile " + target_.pidfile + " does not exist";
    } else {
      std::string_view text(*content);
      while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.remove_suffix(1);
      while (!text.empty() && text.front() == ' ')
        text.remove_prefix(1);
      pid_t pid = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
      if (ec != std::errc() || p != text.data() + text.size() || pid <= 0) {
        reason = "pidfile " + target_.pidfile + " holds no pid";
      } else if (auto facts = read_process_facts(pid); !facts) {
        reason = "process " + std::to_string(pid) + " from " + target_.pidfile + " is not running";
      } else {
        std::int64_t written =
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        if (facts->start_unix_ns <= written + kPidfileTolerance) {
          set_up(*facts);
          return;
        }
        // The process holding this PID started after the pidfile was written, so it did not write
        // it: the service died and an unrelated process reused its PID.
        reason = "pid " + std::to_string(pid) + " from " + target_.pidfile +
                 " now belongs to another process";
      }
    }
    // The pidfile names no live process. While the process we know is still running (the file is
    // being rewritten, or was removed by hand), it stays the service.
    if (is_up() && current_process() && is_running(current_process()->identity())) return;
    set_down(std::move(reason));
  }

  config::duration poll_interval() const override {
    // inotify reports changes at once; the poll is a safety net (and retries a missing directory).
    return is_up() ? 5s : (inotify_.is_open() ? 2s : 500ms);
  }

  std::string directory_;
  std::string file_name_;
  boost::asio::posix::stream_descriptor inotify_;
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
