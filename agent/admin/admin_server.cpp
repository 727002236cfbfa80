#include "admin/admin_server.hpp"

#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <string_view>
#include <tuple>

#include "admin/render.hpp"
#include "admin/status_page.hpp"
#include "config/loader.hpp"
#include "sys/unix_socket.hpp"

namespace sidelight::admin {

namespace beast = boost::beast;
namespace http = beast::http;
using protocol = asio::generic::stream_protocol;
using stream_type = beast::basic_stream<protocol>;
using namespace std::chrono_literals;

namespace {

// A client has this long to send its whole request head: a probe sends it at once, and a slow
// client holds a connection for no longer. Writing the answer has kTimeout.
constexpr auto kHeadTimeout = 2s;
constexpr auto kTimeout = 5s;
constexpr std::uint32_t kHeaderLimit = 8192;

// Splits HOST:PORT or unix:/path into an endpoint the generic protocol accepts.
std::variant<protocol::endpoint, std::string> endpoint_of(const std::string& address,
                                                          std::string& unix_path) {
  if (address.starts_with("unix:") || address.starts_with("/")) {
    unix_path = address.starts_with("unix:") ? address.substr(5) : address;
    if (!unix_path.starts_with("/")) return "expected unix:/absolute/path, got '" + address + "'";
    if (unix_path.size() >= 108) return "socket path too long: " + unix_path;
    return protocol::endpoint(asio::local::stream_protocol::endpoint(unix_path));
  }
  auto parsed = config::parse_endpoint(address, 13133, false, true);
  if (auto* err = std::get_if<std::string>(&parsed)) return *err;
  const auto& e = std::get<config::endpoint>(parsed);
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(e.host == "localhost" ? "127.0.0.1" : e.host, ec);
  if (ec) return "expected an IP address for the admin listener, got '" + e.host + "'";
  return protocol::endpoint(asio::ip::tcp::endpoint(ip, e.port));
}

// "/readyz?upstream=ignore": readiness that leaves the upstreams out.
bool ignores_upstream(const std::string& target) {
  auto q = target.find('?');
  if (q == std::string::npos) return false;
  std::string_view query(target);
  query.remove_prefix(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    if (query.substr(0, amp) == "upstream=ignore") return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

}  // namespace

namespace {

http_response route_unguarded(const std::string& method, const std::string& target,
                              const status_provider& status) {
  http_response r;
  std::string path = target.substr(0, target.find('?'));
  static const char* kPaths[] = {"/", "/healthz", "/readyz", "/metrics", "/api/v1/status"};
  if (std::find(std::begin(kPaths), std::end(kPaths), path) == std::end(kPaths)) {
    r.status = 404;
    r.body = "not found: " + path + "\n(endpoints: /healthz /readyz /metrics /api/v1/status /)\n";
    return r;
  }
  if (method != "GET") {
    r.status = 405;
    r.allow = "GET";
    r.body = "method " + method + " not allowed; use GET\n";
    return r;
  }
  if (path == "/healthz") {
    r.body = "ok\n";
    return r;
  }
  if (path == "/") {  // static: it fetches /api/v1/status itself
    r.content_type = "text/html; charset=utf-8";
    r.body = status_page_html();
    return r;
  }
  if (path == "/readyz") {
    auto reasons = status.not_ready();
    if (ignores_upstream(target)) {
      // A sidecar: its pod's readiness is every container's, so a failing upstream must not take
      // the app out of its Service. Ready while the agent runs; the upstream is only reported.
      r.body = "ready\n";
      for (const auto& why : reasons)
        r.body += "  (not counted) " + why + "\n";
    } else if (reasons.empty()) {
      r.body = "ready\n";
    } else {
      r.status = 503;
      r.body = "not ready:\n";
      for (const auto& why : reasons)
        r.body += "  " + why + "\n";
    }
  } else if (path == "/metrics") {
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = to_prometheus(status);
  } else {
    r.content_type = "application/json";
    r.body = json_text(to_json(status));
  }
  return r;
}

}  // namespace

http_response route(const std::string& method, const std::string& target,
                    const status_provider& status) {
  // Rendering must never take the agent down; a failure is a 500 for this request only.
  try {
    return route_unguarded(method, target, status);
  } catch (const std::exception& e) {
    http_response r;
    r.status = 500;
    r.body = std::string("internal error: ") + e.what() + "\n";
    return r;
  }
}

// One connection: read one request within the timeout, answer it, close.
class admin_session : public std::enable_shared_from_this<admin_session> {
 public:
  admin_session(protocol::socket socket, std::shared_ptr<admin_server> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    parser_.header_limit(kHeaderLimit);
    parser_.body_limit(0);
  }

  void start() {
    stream_.expires_after(kHeadTimeout);
    http::async_read(
        stream_, buffer_, parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }
  // Closes the connection to make room for a new one; its pending operation ends at once.
  void close() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }
  // Eviction order: connections still waiting for their request first, the oldest first.
  bool evict_before(const admin_session& other) const {
    return std::tie(answering_, accepted_) < std::tie(other.answering_, other.accepted_);
  }

 private:
  void on_read(beast::error_code ec) {
    answering_ = true;
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted) {
      return;
    }
    http_response r;
    if (ec) {
      r.status = ec == http::error::body_limit ? 413 : 400;
      r.body = "bad request: " + ec.message() + "\n";
    } else {
      const auto& req = parser_.get();
      r = route(std::string(req.method_string()), std::string(req.target()), server_->status_);
    }
    response_.result(r.status);
    response_.version(11);
    response_.set(http::field::server, "sidelight");
    response_.set(http::field::content_type, r.content_type);
    response_.set(http::field::connection, "close");
    if (!r.allow.empty()) response_.set(http::field::allow, r.allow);
    response_.body() = std::move(r.body);
    response_.prepare_payload();
    stream_.expires_after(kTimeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code, std::size_t) {
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(protocol::socket::shutdown_send, ignored);
                      });
  }

  stream_type stream_;
  std::shared_ptr<admin_server> server_;
  beast::flat_buffer buffer_{kHeaderLimit};
  http::request_parser<http::empty_body> parser_;
  http::response<http::string_body> response_;
  std::chrono::steady_clock::time_point accepted_ = std::chrono::steady_clock::now();
  bool answering_ = false;
};

admin_server::admin_server(asio::io_context& io, const status_provider& status)
    : acceptor_(io), status_(status) {}

admin_server::~admin_server() {
  stop();
}

std::variant<std::shared_ptr<admin_server>, std::string> admin_server::listen(
    asio::io_context& io, const std::string& address, const status_provider& status) {
  std::shared_ptr<admin_server> s(new admin_server(io, status));
  auto ep = endpoint_of(address, s->unix_path_);
  if (auto* err = std::get_if<std::string>(&ep)) return *err;
  auto endpoint = std::get<protocol::endpoint>(ep);
  auto fail = [&](const std::string& what, const boost::system::error_code& ec) {
    return "cannot listen on " + address + ": " + what + ": " + ec.message();
  };

  boost::system::error_code ec;
  if (!s->unix_path_.empty()) {
    // As intake's sockets are made: the directory checked, no path followed; owner-only.
    sys::unix_socket_options o;
    o.mode = 0600;
    o.backlog = asio::socket_base::max_listen_connections;
    auto bound = sys::bind_unix_socket(s->unix_path_, o);
    if (auto* err = std::get_if<std::string>(&bound)) {
      auto why =
          err->starts_with(s->unix_path_ + ": ") ? err->substr(s->unix_path_.size() + 2) : *err;
      return "cannot listen on " + address + ": " + why;
    }
    s->socket_file_ = std::get<sys::bound_socket>(bound).file;
    s->acceptor_.assign(endpoint.protocol(), std::get<sys::bound_socket>(bound).fd, ec);
    if (ec) return fail("socket", ec);
  } else {
    s->acceptor_.open(endpoint.protocol(), ec);
    if (ec) return fail("socket", ec);
    s->acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    s->acceptor_.bind(endpoint, ec);
    if (ec) return fail("bind", ec);
    s->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen", ec);
  }

  if (s->unix_path_.empty()) {
    auto local = s->acceptor_.local_endpoint(ec);
    asio::ip::tcp::endpoint tcp;
    std::memcpy(tcp.data(), local.data(), std::min<std::size_t>(local.size(), tcp.capacity()));
    s->address_ = (tcp.address().is_v6() ? "[" + tcp.address().to_string() + "]"
                                         : tcp.address().to_string()) +
                  ":" + std::to_string(tcp.port());
  } else {
    s->address_ = "unix:" + s->unix_path_;
  }
  s->accept();
  return s;
}

void admin_server::accept() {
  acceptor_.async_accept(
      [weak = weak_from_this()](boost::system::error_code ec, protocol::socket socket) {
        auto self = weak.lock();
        if (!self || !self->acceptor_.is_open()) return;
        if (!ec) {
          self->make_room();
          auto session = std::make_shared<admin_session>(std::move(socket), self);
          self->sessions_.push_back(session);
          session->start();
        }
        self->accept();
      });
}

// At the cap, the connection that has waited longest for its request is closed: slow or stuck
// clients cannot keep a probe out, and a probe, which sends its request at once and is answered
// in the same turn, is never the one waiting longest.
void admin_server::make_room() {
  std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
  if (sessions_.size() < kMaxConnections) return;
  auto victim = std::min_element(
      sessions_.begin(), sessions_.end(),
      [](const auto& a, const auto& b) { return a.lock()->evict_before(*b.lock()); });
  victim->lock()->close();
  sessions_.erase(victim);
}

void admin_server::stop() {
  if (!acceptor_.is_open()) return;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  sys::remove_socket_file(socket_file_);
}

namespace {

// GET `target`; `what` names it in the error when nothing answers.
fetch_result get(const std::string& address, const std::string& target, const std::string& what) {
  asio::io_context io;
  std::string unix_path;
  auto ep = endpoint_of(address, unix_path);
  if (auto* err = std::get_if<std::string>(&ep)) return {false, *err};
  stream_type stream(io);
  fetch_result result{false, "no answer from " + address};
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, "sidelight");
  req.set(http::field::connection, "close");
  beast::flat_buffer buffer{64 * 1024};
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  auto failed = [&](const char* step, beast::error_code ec) {
    result = {false, "cannot get " + what + " from " + address + " (" + step + ": " + ec.message() +
                         "); is sidelight running, with admin.listen set to that address?"};
  };
  stream.expires_after(kTimeout);
  stream.async_connect(std::get<protocol::endpoint>(ep), [&](beast::error_code ec) {
    if (ec) return failed("connect", ec);
    http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
      if (wec) return failed("write", wec);
      http::async_read(stream, buffer, parser, [&](beast::error_code rec, std::size_t) {
        if (rec) return failed("read", rec);
        const auto& res = parser.get();
        result = {res.result_int() == 200, res.body(), res.result_int()};
      });
    });
  });
  io.run();
  return result;
}

}  // namespace

fetch_result fetch_status(const std::string& address) {
  auto r = get(address, "/api/v1/status", "the status");
  if (r.ok || r.status == 0) return r;
  return {false, "status from " + address + ": HTTP " + std::to_string(r.status), r.status};
}

fetch_result fetch(const std::string& address, const std::string& target) {
  return get(address, target, target);
}

}  // namespace sidelight::admin
