#include "intake/ndjson_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>

#include "codec/payload.hpp"
#include "intake/connections.hpp"
#include "intake/otlp_wire.hpp"
#include "intake/socket_setup.hpp"
#include "log/fields.hpp"

namespace sidelight::intake {

namespace {

using namespace std::chrono_literals;
namespace otlp = opentelemetry::proto;

constexpr std::size_t kReadSize = 64 * 1024;
// A datagram larger than this is refused (Linux's default limit is about 208 KiB).
constexpr std::size_t kMaxDatagram = 1 << 20;
// How often a stream left unread for backpressure looks whether there is room again.
constexpr auto kPauseCheck = 10ms;
// The sender's pidfd with each datagram (SO_PASSPIDFD, Linux 6.5; not in Debian 12's headers).
constexpr int kScmPidfd = 0x04;

// The group of a service hint, made on `arena` the first time.
template <class Scope>
Scope* group_of(std::map<std::string, Scope*>& groups, const std::string& hint,
                google::protobuf::Arena& arena) {
  auto& slot = groups[hint];
  if (slot == nullptr) slot = google::protobuf::Arena::CreateMessage<Scope>(&arena);
  return slot;
}

}  // namespace

void ndjson_batcher::line(std::string_view text, result& r) {
  ++line_number_;
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.find_first_not_of(" \t") == std::string_view::npos) return;
  ++r.lines;
  auto error = decoder_.decode(text, decoded_);
  if (!error.empty()) {
    ++pending_bad_;
    if (++r.bad == 1) r.first_error = "line " + std::to_string(line_number_) + ": " + error;
    return;
  }
  if (decoded_.what == ndjson_line::kind::log) {
    // When sidelight saw the line: OTLP's observed time, and the only time of a line without one.
    decoded_.log.set_observed_time_unix_nano(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count()));
    *group_of(logs_, decoded_.service, arena_)->add_log_records() = decoded_.log;
  } else {
    *group_of(spans_, decoded_.service, arena_)->add_spans() = decoded_.span;
  }
}

// Beyond the connection's own 64 KiB, an unfinished line is held with bytes of
// intake.max_buffered_bytes; one they cannot cover is refused (rejected: the client did nothing
// wrong) and the rest of it skipped.
bool ndjson_batcher::keep_partial(std::string_view data, result& r) {
  if (lease_.need(partial_.size() + data.size())) {
    partial_.append(data);
    return true;
  }
  reset_partial();
  ++line_number_;
  ++r.lines;
  ++r.rejected;
  admission_.buffers_full({1, false});
  return false;
}

// A long line's buffer is let go once it is done with: a connection must not keep the capacity of
// the longest line it ever sent (up to max_message_size) for as long as it stays open.
void ndjson_batcher::reset_partial() {
  if (partial_.capacity() > buffer_budget::kOwnBuffer) {
    codec::payload().swap(partial_);
  } else {
    partial_.clear();
  }
  lease_.reset();
}

void ndjson_batcher::too_long(result& r) {
  ++line_number_;
  ++r.lines;
  ++pending_bad_;
  if (++r.bad == 1) {
    r.first_error = "line " + std::to_string(line_number_) + ": longer than " +
                    std::to_string(max_line_) + " bytes";
  }
}

void ndjson_batcher::feed(std::string_view data, bool at_end, const peer_identity& sender,
                          result& r) {
  while (!data.empty()) {
    auto nl = data.find('\n');
    if (nl == std::string_view::npos) {
      if (!skipping_ && !keep_partial(data, r)) skipping_ = true;
      break;
    }
    if (skipping_) {
      skipping_ = false;
    } else if (partial_.empty()) {
      if (nl <= max_line_) {
        line(data.substr(0, nl), r);
      } else {
        too_long(r);
      }
    } else if (partial_.size() + nl > max_line_) {
      reset_partial();
      too_long(r);
    } else if (keep_partial(data.substr(0, nl), r)) {
      line(partial_, r);
      reset_partial();
    }
    data.remove_prefix(nl + 1);
  }
  if (partial_.size() > max_line_) {
    reset_partial();
    skipping_ = true;
    too_long(r);
  }
  if (at_end) {
    if (!partial_.empty()) {
      // A last line without its newline counts when it is whole; a half-written one is reported.
      auto before = r.bad;
      line(partial_, r);
      if (r.bad > before && r.bad == 1) r.first_error += " (the connection closed mid-line)";
      reset_partial();
    }
    skipping_ = false;
  }
  if (pending_bad_ > 0) {
    admission_.malformed(r.first_error, verdict::malformed, {pending_bad_});
    pending_bad_ = 0;
  }
  emit(sender, r);
}

// The lines of one feed become one request per signal, a Resource* per service hint: the line's
// "service" is the client's own word (a resource attribute it set), unless the sender is a
// watched target, whose name wins.
void ndjson_batcher::emit(const peer_identity& sender, result& r) {
  if (logs_.empty() && spans_.empty()) return;
  bool watched = admission_.policy().lookup(sender).watched;
  auto resource_for = [&](const std::string& hint) {
    otlp::resource::v1::Resource resource;
    if (!hint.empty() && !watched) {
      auto* kv = resource.add_attributes();
      kv->set_key("service.name");
      kv->mutable_value()->set_string_value(hint);
    }
    return resource;
  };
  // One request of the groups: a Resource* each (made on the arena, so that the scope is put in
  // it as it is, not copied).
  auto admit_groups = [&](codec::signal s, auto& groups, auto wrap) {
    if (groups.empty()) return;
    std::string request;
    std::uint64_t lines = 0;
    for (auto& [hint, scope] : groups) {
      scope->mutable_scope()->set_name("sidelight.ndjson");
      auto* message = wrap(scope, lines);
      *message->mutable_resource() = resource_for(hint);
      codec::append_field1(request, message->SerializeAsString());
    }
    admit(s, request, sender, lines, r);
  };
  admit_groups(codec::signal::logs, logs_, [&](otlp::logs::v1::ScopeLogs* scope, auto& lines) {
    lines += static_cast<std::uint64_t>(scope->log_records_size());
    auto* rl = google::protobuf::Arena::CreateMessage<otlp::logs::v1::ResourceLogs>(&arena_);
    rl->mutable_scope_logs()->AddAllocated(scope);
    return rl;
  });
  admit_groups(codec::signal::traces, spans_, [&](otlp::trace::v1::ScopeSpans* scope, auto& lines) {
    lines += static_cast<std::uint64_t>(scope->spans_size());
    auto* rs = google::protobuf::Arena::CreateMessage<otlp::trace::v1::ResourceSpans>(&arena_);
    rs->mutable_scope_spans()->AddAllocated(scope);
    return rs;
  });
  logs_.clear();
  spans_.clear();
  arena_.Reset();
}

void ndjson_batcher::admit(codec::signal s, std::string_view request, const peer_identity& sender,
                           std::uint64_t lines, result& r) {
  auto outcome = admission_.admit(s, request, sender, {lines, false});
  switch (outcome.what) {
    case verdict::accepted:
      r.items += lines;
      break;
    case verdict::over_limit:
      // A line cannot be answered: it is counted as rejected, never silently lost.
      r.rejected += lines;
      break;
    default:
      // Lines the decoder took but the OTLP schema refuses (none known): bad, all of them.
      if (r.bad == 0) r.first_error = outcome.error;
      r.bad += lines;
      break;
  }
}

// One stream client: reads, feeds the batcher, closes when idle too long. Everything it does runs
// on its socket's thread (one of the pool's); the acceptor's thread only reads last_active() and
// asks it to close().
class ndjson_server::session : public std::enable_shared_from_this<session> {
 public:
  session(ndjson_server& server, asio::local::stream_protocol::socket socket, peer_identity peer)
      : server_(server.shared_from_this()),
        socket_(std::move(socket)),
        idle_(socket_.get_executor()),
        pause_(socket_.get_executor()),
        peer_(peer),
        batcher_(server.admission_, server.settings_.max_message_size),
        buffer_(kReadSize, '\0') {}

  // From any thread: the session runs on its socket's thread from here on.
  void start() {
    server_->counters_.open_connections.fetch_add(1, std::memory_order_relaxed);
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }
  // From any thread.
  void close() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close_now(); });
  }
  std::chrono::steady_clock::time_point last_active() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(last_active_.load(std::memory_order_relaxed)));
  }
  ~session() { server_->counters_.open_connections.fetch_sub(1, std::memory_order_relaxed); }

 private:
  void close_now() {
    boost::system::error_code ec;
    socket_.close(ec);
    idle_.cancel();
    pause_.cancel();
  }

  void do_read() {
    idle_.expires_after(server_->settings_.idle_timeout);
    idle_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->close_now();
    });
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        std::size_t n) { self->on_read(ec, n); });
  }

  void touch() {
    last_active_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                       std::memory_order_relaxed);
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    touch();
    bool at_end = ec.failed();
    ndjson_batcher::result r;
    batcher_.feed(std::string_view(buffer_.data(), n), at_end, peer_, r);
    server_->report_bad(peer_.pid, r);
    if (at_end) {
      idle_.cancel();
      return;
    }
    read_when_room();
  }

  // While a lane NDJSON feeds pushes back, the socket is left unread: the kernel's buffer fills
  // and the writer blocks, the one way to slow a stream down. Not idle meanwhile.
  void read_when_room() {
    const auto& policy = server_->admission_.policy();
    if (!policy.pushed_back(codec::signal::logs) && !policy.pushed_back(codec::signal::traces)) {
      paused_ = false;
      do_read();
      return;
    }
    if (!paused_) {
      paused_ = true;
      idle_.cancel();
      server_->counters_.throttled.fetch_add(1, std::memory_order_relaxed);
    }
    touch();
    pause_.expires_after(kPauseCheck);
    pause_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->read_when_room();
    });
  }

  std::shared_ptr<ndjson_server> server_;
  asio::local::stream_protocol::socket socket_;
  asio::steady_timer idle_;
  asio::steady_timer pause_;
  bool paused_ = false;
  peer_identity peer_;
  ndjson_batcher batcher_;
  std::string buffer_;
  // Written on the session's thread, read by the acceptor's to choose whom to evict.
  std::atomic<std::chrono::steady_clock::rep> last_active_{
      std::chrono::steady_clock::now().time_since_epoch().count()};
};

ndjson_server::ndjson_server(asio::io_context& io, io_pool& workers,
                             const config::listener& settings, const intake_policy& policy,
                             deliver_fn deliver, intake_counters& counters)
    : settings_(settings),
      counters_(counters.of(protocol::ndjson)),
      admission_(policy, std::move(deliver), counters_),
      acceptor_(io),
      datagrams_(io),
      accept_retry_(io),
      workers_(workers) {}

std::variant<std::shared_ptr<ndjson_server>, std::string> ndjson_server::start(
    asio::io_context& io, io_pool& workers, const config::listener& settings,
    const intake_policy& policy, deliver_fn deliver, intake_counters& counters) {
  std::shared_ptr<ndjson_server> s(
      new ndjson_server(io, workers, settings, policy, std::move(deliver), counters));
  boost::system::error_code ec;
  if (!settings.unix_path.empty()) {
    auto bound = bind_unix_socket(settings.unix_path, SOCK_STREAM, settings);
    if (auto* err = std::get_if<std::string>(&bound)) return "ndjson: " + *err;
    s->stream_file_ = std::get<sys::bound_socket>(bound).file;
    s->acceptor_.assign(asio::local::stream_protocol(), std::get<sys::bound_socket>(bound).fd, ec);
    if (ec) return "ndjson: " + ec.message();
    s->accept();
  }
  if (!settings.unix_datagram.empty()) {
    auto bound = bind_unix_socket(settings.unix_datagram, SOCK_DGRAM, settings);
    if (auto* err = std::get_if<std::string>(&bound)) return "ndjson: " + *err;
    s->datagram_file_ = std::get<sys::bound_socket>(bound).file;
    s->datagrams_.assign(asio::local::datagram_protocol(), std::get<sys::bound_socket>(bound).fd,
                         ec);
    if (ec) return "ndjson: " + ec.message();
    s->datagram_batcher_ = std::make_unique<ndjson_batcher>(
        s->admission_, std::min<std::uint64_t>(settings.max_message_size, kMaxDatagram));
    s->datagram_buffer_.resize(kMaxDatagram + 1);
    s->receive();
  }
  return s;
}

std::string ndjson_server::address() const {
  std::string a;
  if (!settings_.unix_path.empty()) a = "unix:" + settings_.unix_path;
  if (!settings_.unix_datagram.empty()) {
    if (!a.empty()) a += " and ";
    a += "unixgram:" + settings_.unix_datagram;
  }
  return a;
}

void ndjson_server::accept() {
  acceptor_.async_accept(
      workers_.next(), [self = shared_from_this()](const boost::system::error_code& ec,
                                                   asio::local::stream_protocol::socket socket) {
        if (ec == asio::error::operation_aborted || self->stopped_) return;
        if (!ec) {
          self->counters_.connections.fetch_add(1, std::memory_order_relaxed);
          // At the cap the connection idle the longest makes room: idle clients cannot lock out
          // active ones.
          if (evict_longest_idle(self->sessions_, self->settings_.max_connections)) {
            self->counters_.connections_evicted.fetch_add(1, std::memory_order_relaxed);
          }
          auto peer = identify_peer(socket.native_handle());
          auto s = std::make_shared<session>(*self, std::move(socket), peer);
          self->sessions_.push_back(s);
          s->start();
        } else {
          // Out of descriptors, most likely: try again shortly instead of spinning.
          self->accept_retry_.expires_after(100ms);
          self->accept_retry_.async_wait([self](const boost::system::error_code& wec) {
            if (!wec && !self->stopped_) self->accept();
          });
          return;
        }
        self->accept();
      });
}

// Datagrams carry their sender's credentials (SO_PASSCRED), read with recvmsg.
void ndjson_server::receive() {
  datagrams_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](
                                                          const boost::system::error_code& ec) {
    if (ec || self->stopped_) return;
    for (int i = 0; i < 64; ++i) {
      iovec iov{self->datagram_buffer_.data(), self->datagram_buffer_.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int))];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      auto n = ::recvmsg(self->datagrams_.native_handle(), &msg, MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) break;
      pid_t pid = 0;
      int pidfd = -1;
      for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
          ucred cred{};
          std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
          pid = cred.pid;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == kScmPidfd) {
          std::memcpy(&pidfd, CMSG_DATA(c), sizeof pidfd);
        }
      }
      auto sender = identify_sender(pid, pidfd);
      ndjson_batcher::result r;
      if (static_cast<std::size_t>(n) > kMaxDatagram) {
        r.lines = r.bad = 1;
        r.first_error = "datagram larger than " + std::to_string(kMaxDatagram) + " bytes";
        self->admission_.malformed(r.first_error);
      } else {
        self->datagram_batcher_->feed(
            std::string_view(self->datagram_buffer_.data(), static_cast<std::size_t>(n)), true,
            sender, r);
      }
      self->report_bad(pid, r);
    }
    self->receive();
  });
}

// Admission has counted the feed; what is left is to tell about bad lines.
void ndjson_server::report_bad(pid_t pid, const ndjson_batcher::result& r) {
  if (r.bad == 0) return;
  std::lock_guard lock(warnings_mutex_);
  if (!warnings_.allow(r.bad)) return;
  log::warn({.pid = pid, .error = r.first_error}, "ndjson: {} bad line(s) from {}; first: {}{}",
            r.bad, describe_peer(pid), r.first_error, warnings_.held_back());
}

void ndjson_server::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  datagrams_.close(ec);
  accept_retry_.cancel();
  for (auto& w : sessions_) {
    if (auto s = w.lock()) s->close();
  }
  sessions_.clear();
  sys::remove_socket_file(stream_file_);
  sys::remove_socket_file(datagram_file_);
}

}  // namespace sidelight::intake
