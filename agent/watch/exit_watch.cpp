#include "watch/exit_watch.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>

namespace sidelight::watch {

namespace asio = boost::asio;

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(200);

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

// Lives as long as a wait is pending, so a late completion never touches a destroyed watch.
struct exit_watch::operation : std::enable_shared_from_this<operation> {
  explicit operation(asio::io_context& io) : descriptor(io), timer(io) {}

  asio::posix::stream_descriptor descriptor;
  asio::steady_timer timer;
  process_identity process;
  std::function<void()> on_exit;
  bool done = false;

  void fire() {
    if (done) return;
    done = true;
    auto fn = std::move(on_exit);
    close();
    if (fn) fn();
  }

  void close() {
    boost::system::error_code ignored;
    timer.cancel();
    descriptor.close(ignored);
  }

  void wait_pidfd() {
    descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                          [self = shared_from_this()](const boost::system::error_code& ec) {
                            if (self->done || ec == asio::error::operation_aborted) return;
                            self->fire();
                          });
  }

  void poll() {
    timer.expires_after(kPollInterval);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (self->done || ec) return;
      if (!is_running(self->process)) {
        self->fire();
      } else {
        self->poll();
      }
    });
  }
};

bool exit_watch::pidfd_supported() {
  static const bool supported = [] {
    int fd = open_pidfd(::getpid());
    if (fd < 0) return errno != ENOSYS;
    ::close(fd);
    return true;
  }();
  return supported;
}

void exit_watch::watch(const process_identity& process, std::function<void()> on_exit) {
  cancel();
  auto op = std::make_shared<operation>(io_);
  op->process = process;
  op->on_exit = std::move(on_exit);
  op_ = op;

  int fd = pidfd_supported() ? open_pidfd(process.pid) : -1;
  if (fd >= 0) {
    op->descriptor.assign(fd);
    // The PID may have been reused between the caller's check and pidfd_open: check once more,
    // now that the descriptor pins whichever process holds the PID.
    if (!is_running(process)) {
      asio::post(io_, [op] { op->fire(); });
      return;
    }
    op->wait_pidfd();
    return;
  }
  if (!is_running(process)) {
    asio::post(io_, [op] { op->fire(); });
    return;
  }
  op->poll();
}

void exit_watch::cancel() {
  if (!op_) return;
  op_->done = true;
  op_->on_exit = nullptr;
  op_->close();
  op_.reset();
}

}  // namespace sidelight::watch
