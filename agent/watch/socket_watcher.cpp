// `socket:` targets. `check: listen` asks the kernel's socket tables whether something listens,
// without connecting; `check: connect` connects and measures how long it took, and with
// send/expect also needs an answer: a socket that accepts but never answers is degraded, one that
// refuses is down. When the listening process can be seen, it is followed through pidfd like any
// other process.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "config/units.hpp"
#include "watch/slot_watchers.hpp"
#include "watch/socket_table.hpp"

namespace sidelight::watch {
namespace {

namespace asio = boost::asio;
using config::socket_check;

// The answer is read up to this many bytes for `expect`, and no further: it is the service's and
// may be anything, endless included.
constexpr std::size_t kExpectWindow = 4096;

std::string describe(const socket_check& s) {
  if (s.kind == socket_check::family::unix_path) return s.path;
  std::string host = s.host.empty() ? "*" : s.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(s.port);
}

class socket_watcher final : public slot_watcher {
 public:
  socket_watcher(watch_context& ctx, const config::target& t, report_handler on_report)
      : slot_watcher(ctx, t, std::move(on_report), liveness_state::policy::follow),
        deadline_(ctx.io) {}

 private:
  void on_stop() override {
    probing_ = false;
    deadline_.cancel();
    cancel_probe();
  }

  void evaluate() override {
    const auto& s = target_.socket;
    if (s.check == socket_check::method::listen) {
      auto inode = listening_inode();
      if (!inode) {
        auto& err = ctx_.sockets->error();
        set_down(err.empty() ? "nothing listens on " + describe(s)
                             : "cannot read the socket tables: " + err);
        return;
      }
      mark_up(*inode, std::nullopt);
      return;
    }
    if (!probing_) start_connect();
  }

  std::optional<std::uint64_t> listening_inode() {
    const auto& s = target_.socket;
    return s.kind == socket_check::family::unix_path ? ctx_.sockets->find_unix(s.path)
                                                     : ctx_.sockets->find_tcp(s.host, s.port);
  }

  // Up: name the owning process when it can be seen, so its exit is noticed at once.
  void mark_up(std::optional<std::uint64_t> inode, std::optional<double> probe_seconds) {
    if (inode && *inode == owner_inode_ && owner_ && !is_running(owner_->identity())) {
      // The owner exited (this is the evaluation its exit asked for), yet its socket is listed:
      // the table may be one dumped before the exit (it is shared for up to 100 ms). Ask the
      // kernel again; only a socket another process still holds keeps the target up.
      ctx_.sockets->invalidate();
      inode = listening_inode();
      if (!inode) {
        owner_.reset();
        owner_inode_ = 0;
        set_down("nothing listens on " + describe(target_.socket), probe_seconds);
        return;
      }
    }
    if (inode && *inode != owner_inode_) {
      owner_inode_ = *inode;
      pid_t hint = current_process() ? current_process()->pid : 0;
      auto pid = find_socket_owner(*inode, hint);
      owner_ = pid ? read_process_facts(*pid) : std::nullopt;
    }
    if (owner_ && is_running(owner_->identity())) {
      set_up(*owner_, probe_seconds);
      return;
    }
    owner_.reset();
    if (!is_up()) anonymous_since_ = now_unix_ns();
    set_up_anonymous(anonymous_since_, probe_seconds);
  }

  void start_connect() {
    const auto& s = target_.socket;
    probing_ = true;
    started_ = std::chrono::steady_clock::now();
    deadline_.expires_after(s.timeout);
    deadline_.async_wait([weak = weak_from_this(), this](const boost::system::error_code& ec) {
      if (weak.expired() || ec) return;
      cancel_probe();
    });
    auto done = [weak = weak_from_this(), this](const boost::system::error_code& ec) {
      if (weak.expired()) return;
      on_connected(ec);
    };
    if (s.kind == socket_check::family::unix_path) {
      unix_socket_ = std::make_unique<asio::local::stream_protocol::socket>(ctx_.io);
      unix_socket_->async_connect(asio::local::stream_protocol::endpoint(s.path), done);
    } else {
      boost::system::error_code ec;
      auto address = asio::ip::make_address(s.host.empty() ? "127.0.0.1" : s.host, ec);
      tcp_socket_ = std::make_unique<asio::ip::tcp::socket>(ctx_.io);
      tcp_socket_->async_connect(asio::ip::tcp::endpoint(address, s.port), done);
    }
  }

  void cancel_probe() {
    boost::system::error_code ignored;
    if (tcp_socket_) tcp_socket_->close(ignored);
    if (unix_socket_) unix_socket_->close(ignored);
  }

  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }

  std::string timed_out() const {
    return "timed out after " + config::format_duration(target_.socket.timeout);
  }

  void on_connected(const boost::system::error_code& ec) {
    if (!probing_) return;
    if (ec) {
      std::string why = ec == asio::error::operation_aborted ? timed_out() : ec.message();
      why = "cannot connect to " + describe(target_.socket) + ": " + why;
      end_probe({.ok = false, .failure = "connect_failed", .reason = why});
      return;
    }
    if (tcp_socket_) return converse(*tcp_socket_);
    converse(*unix_socket_);
  }

  // Connected: send, then read until `expect` shows, within the same deadline.
  template <class Socket>
  void converse(Socket& socket) {
    const auto& s = target_.socket;
    answer_.clear();
    if (s.send.empty()) return read_answer(socket);
    asio::async_write(
        socket, asio::buffer(s.send),
        [weak = weak_from_this(), this, &socket](const boost::system::error_code& ec, std::size_t) {
          if (weak.expired() || !probing_) return;
          if (ec) return answer_failed(ec, "cannot send");
          read_answer(socket);
        });
  }

  template <class Socket>
  void read_answer(Socket& socket) {
    const auto& expect = target_.socket.expect;
    if (expect.empty()) return end_probe({.ok = true});
    auto have = answer_.size();
    answer_.resize(kExpectWindow);
    socket.async_read_some(
        asio::buffer(answer_.data() + have, kExpectWindow - have),
        [weak = weak_from_this(), this, &socket, have](const boost::system::error_code& ec,
                                                       std::size_t n) {
          if (weak.expired() || !probing_) return;
          answer_.resize(have + n);
          const auto& want = target_.socket.expect;
          if (answer_.find(want) != std::string::npos) return end_probe({.ok = true});
          if (answer_.size() >= kExpectWindow) {
            return end_probe({.ok = false,
                              .failure = "expect_mismatch",
                              .reason = "the first " + std::to_string(kExpectWindow) +
                                        " bytes of the answer do not hold '" + want + "'"});
          }
          if (ec == asio::error::eof) {
            return end_probe({.ok = false,
                              .failure = "expect_mismatch",
                              .reason = "the answer (" + std::to_string(answer_.size()) +
                                        " bytes) ended without '" + want + "'"});
          }
          if (ec) return answer_failed(ec, "no answer");
          read_answer(socket);
        });
  }

  void answer_failed(const boost::system::error_code& ec, const std::string& what) {
    bool late = ec == asio::error::operation_aborted;
    end_probe({.ok = false,
               .failure = late ? "timeout" : "bad_answer",
               .reason = what + " from " + describe(target_.socket) + ": " +
                         (late ? timed_out() : ec.message())});
  }

  // The round is over: a refused connection is down; one that connected is up, and degraded
  // while its answer fails.
  void end_probe(probe_outcome outcome) {
    probing_ = false;
    deadline_.cancel();
    cancel_probe();
    answer_.clear();
    answer_.shrink_to_fit();
    double seconds = elapsed();
    outcome.seconds = seconds;
    bool connected = outcome.ok || outcome.failure != "connect_failed";
    std::string reason = outcome.reason;
    // Before the instance's report, which emits the target: it must not be `running` (or, at the
    // first round, `down`) for a moment on its way to degraded.
    bool changed = record_probe(std::move(outcome));
    if (connected) {
      // A local listener also tells who serves it; a remote one cannot.
      mark_up(listening_inode(), seconds);
    } else {
      set_down(reason, seconds);
    }
    if (changed) probe_verdict_changed();
  }

  config::duration poll_interval() const override { return target_.socket.probe_interval; }

  asio::steady_timer deadline_;
  std::unique_ptr<asio::ip::tcp::socket> tcp_socket_;
  std::unique_ptr<asio::local::stream_protocol::socket> unix_socket_;
  bool probing_ = false;
  std::string answer_;  // what the answer held so far, up to kExpectWindow
  std::chrono::steady_clock::time_point started_{};
  std::uint64_t owner_inode_ = 0;
  std::optional<process_facts> owner_;
  std::int64_t anonymous_since_ = 0;
};

}  // namespace

std::shared_ptr<target_watcher> make_socket_watcher(watch_context& ctx, const config::target& t,
                                                    report_handler on_report) {
  return std::make_shared<socket_watcher>(ctx, t, std::move(on_report));
}

}  // namespace sidelight::watch
