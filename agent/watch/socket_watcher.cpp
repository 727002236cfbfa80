// `socket:` targets. `check: listen` asks the kernel's socket tables whether something listens,
// without connecting; `check: connect` connects and measures how long it took. When the listening
// process can be seen, it is followed through pidfd like any other process.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/units.hpp"
#include "watch/slot_watchers.hpp"
#include "watch/socket_table.hpp"

namespace sidelight::watch {
namespace {

namespace asio = boost::asio;
using config::socket_check;

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

  void on_connected(const boost::system::error_code& ec) {
    if (!probing_) return;
    probing_ = false;
    deadline_.cancel();
    cancel_probe();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (ec) {
      std::string why = ec == asio::error::operation_aborted
                            ? "timed out after " + config::format_duration(target_.socket.timeout)
                            : ec.message();
      set_down("cannot connect to " + describe(target_.socket) + ": " + why, seconds);
      return;
    }
    // A local listener also tells who serves it; a remote one cannot.
    mark_up(listening_inode(), seconds);
  }

  config::duration poll_interval() const override { return target_.socket.probe_interval; }

  asio::steady_timer deadline_;
  std::unique_ptr<asio::ip::tcp::socket> tcp_socket_;
  std::unique_ptr<asio::local::stream_protocol::socket> unix_socket_;
  bool probing_ = false;
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
