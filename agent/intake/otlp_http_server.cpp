#include "intake/otlp_http_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "codec/otlp_json.hpp"
#include "codec/utf8.hpp"
#include "config/loader.hpp"
#include "google/rpc/status.pb.h"
#include "intake/http_request_parser.hpp"
#include "intake/otlp_wire.hpp"
#include "intake/socket_setup.hpp"
#include "log/fields.hpp"

namespace sidelight::intake {

namespace beast = boost::beast;
namespace http = beast::http;
using stream_protocol = asio::generic::stream_protocol;
using namespace std::chrono_literals;

namespace {

std::optional<codec::signal> signal_of_path(std::string_view path) {
  if (path == "/v1/traces") return codec::signal::traces;
  if (path == "/v1/logs") return codec::signal::logs;
  if (path == "/v1/metrics") return codec::signal::metrics;
  return std::nullopt;
}

// The media type without parameters, lower-cased: "application/json; charset=utf-8" → json.
std::string media_type(std::string_view content_type) {
  auto semi = content_type.find(';');
  std::string t(content_type.substr(0, semi));
  while (!t.empty() && t.back() == ' ')
    t.pop_back();
  for (auto& c : t)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

otlp_http_response status_response(unsigned http_status, bool json, std::string message) {
  // Parser messages may quote the client's bytes; the answer must stay valid UTF-8.
  message = codec::printable_utf8(message, 1024);
  google::rpc::Status st;
  st.set_code(3);  // INVALID_ARGUMENT, and the closest code for the other refusals
  st.set_message(message);
  otlp_http_response r;
  r.status = http_status;
  r.message = message;
  if (json) {
    r.content_type = "application/json";
    r.body = codec::to_otlp_json(st);
  } else {
    r.content_type = "application/x-protobuf";
    r.body = st.SerializeAsString();
  }
  return r;
}

}  // namespace

std::optional<otlp_http_response> otlp_http_handler::answer_head(
    const otlp_http_request& req) const {
  std::string path(req.target.substr(0, req.target.find('?')));
  auto sig = signal_of_path(path);
  otlp_http_response r;
  r.content_type = "text/plain; charset=utf-8";
  if (!sig) {
    r.status = 404;
    r.body = "not found: " + codec::printable_utf8(path, 200) +
             " (OTLP/HTTP paths: /v1/traces /v1/logs /v1/metrics)\n";
    return r;
  }
  auto refuse = [&](unsigned status, std::string body) {
    admission_.malformed(body);
    r.status = status;
    r.body = std::move(body) + "\n";
    return r;
  };
  if (req.method != "POST") {
    r.allow = "POST";
    return refuse(405, "method " + codec::printable_utf8(req.method, 32) +
                           " not allowed; OTLP/HTTP uses POST");
  }
  auto type = media_type(req.content_type);
  bool json = type == "application/json";
  if (!json && type != "application/x-protobuf") {
    return refuse(415, "unsupported content type '" + codec::printable_utf8(req.content_type, 100) +
                           "'; use application/x-protobuf or application/json");
  }
  auto encoding = media_type(req.content_encoding);
  if (!encoding.empty() && encoding != "identity" && encoding != "gzip") {
    return refuse(415, "unsupported content encoding '" +
                           codec::printable_utf8(req.content_encoding, 100) +
                           "'; use gzip or none");
  }
  if (stopping_) {
    auto s = status_response(503, json, "sidelight is stopping; retry later");
    s.retry_after = "5";
    return s;
  }
  if (auto refused = admission_.refusal(*sig)) return answer(*refused, json);
  return std::nullopt;
}

// The verdict as the OTLP/HTTP specification answers it; a refusal worth retrying is 429 with
// Retry-After (whole seconds, at least one).
otlp_http_response otlp_http_handler::answer(const admit_result& v, bool json) const {
  switch (v.what) {
    case verdict::accepted: {
      // An empty Export*ServiceResponse: nothing partial to report.
      otlp_http_response r;
      r.status = 200;
      r.content_type = json ? "application/json" : "application/x-protobuf";
      r.body = json ? "{}" : "";
      return r;
    }
    case verdict::malformed:
      return status_response(400, json, v.error);
    case verdict::too_large:
      return status_response(413, json, v.error);
    case verdict::over_limit:
    case verdict::throttled:
      break;
  }
  auto r = status_response(429, json, v.error);
  auto seconds = (v.retry_after.count() + 999) / 1000;
  r.retry_after = std::to_string(std::max<std::int64_t>(1, seconds));
  return r;
}

otlp_http_response otlp_http_handler::buffers_full(const otlp_http_request& req) const {
  return answer(admission_.buffers_full(), media_type(req.content_type) == "application/json");
}

otlp_http_response otlp_http_handler::handle(const otlp_http_request& req) const {
  if (auto early = answer_head(req)) return *early;
  return handle_body(req);
}

otlp_http_response otlp_http_handler::handle_body(const otlp_http_request& req) const {
  std::string path(req.target.substr(0, req.target.find('?')));
  auto sig = signal_of_path(path);
  bool json = media_type(req.content_type) == "application/json";
  std::string inflated;
  std::string_view body = req.body;
  if (media_type(req.content_encoding) == "gzip") {
    if (auto refused = admission_.inflate(req.body, max_body_, inflated)) {
      return answer(*refused, json);
    }
    body = inflated;
  }
  std::string encoded;
  if (json) {
    if (auto err = codec::otlp_json_to_wire(*sig, body, max_body_, encoded); !err.empty()) {
      return answer(admission_.malformed("not valid OTLP/JSON: " + err), json);
    }
    body = encoded;
  }
  return answer(admission_.admit(*sig, body, req.peer), json);
}

// One client connection: requests one after another (keep-alive), each within the idle timeout.
// The head is read first: a request refused by its head alone is answered without reading its
// body, and `Expect: 100-continue` is answered before the body is read.
class otlp_http_server::session : public std::enable_shared_from_this<session> {
 public:
  session(std::shared_ptr<otlp_http_server> server, stream_protocol::socket socket,
          peer_identity peer)
      : server_(std::move(server)), stream_(std::move(socket)), peer_(peer) {
    server_->counters_.open_connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~session() { server_->counters_.open_connections.fetch_sub(1, std::memory_order_relaxed); }

  void start() { do_read(); }
  std::chrono::steady_clock::time_point last_active() const { return last_active_; }
  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(stream_protocol::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void do_read() {
    parser_.emplace();
    bound_request_parser(*parser_, server_->handler_.max_body());
    stream_.expires_after(server_->settings_.idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_head(ec); });
  }

  otlp_http_request request_of() const {
    const auto& req = parser_->get();
    otlp_http_request in;
    in.method = view(req.method_string());
    in.target = view(req.target());
    in.content_type = view(req[http::field::content_type]);
    in.content_encoding = view(req[http::field::content_encoding]);
    in.body = view(req.body());
    in.peer = peer_;
    return in;
  }

  void on_head(beast::error_code ec) {
    last_active_ = std::chrono::steady_clock::now();
    if (ec) {
      refuse_unreadable(ec);
      return;
    }
    if (auto early = server_->handler_.answer_head(request_of())) {
      // The body stays unread: the connection cannot carry another request after this answer.
      bool body_pending = parser_->chunked() || parser_->content_length().value_or(0) > 0;
      write(*early, parser_->keep_alive() && !body_pending);
      return;
    }
    if (beast::iequals(view(parser_->get()[http::field::expect]), "100-continue")) {
      continue_.emplace(http::status::continue_, 11);
      http::async_write(stream_, *continue_,
                        [self = shared_from_this()](beast::error_code wec, std::size_t) {
                          if (wec) {
                            self->close();
                            return;
                          }
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  // The body is read a buffer at a time, and what it holds beyond the connection's own 64 KiB
  // comes out of intake.max_buffered_bytes first: a body announced by its length is covered
  // before any of it is read (the body reserves that much), a chunked one as it grows.
  void read_body() {
    if (!lease_.need(parser_->content_length().value_or(0))) {
      refuse_buffers();
      return;
    }
    http::async_read_some(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_some(ec); });
  }

  void on_some(beast::error_code ec) {
    if (!ec && !lease_.need(parser_->get().body().size())) {
      refuse_buffers();
      return;
    }
    if (ec || parser_->is_done()) {
      on_read(ec);
      return;
    }
    read_body();
  }

  // The rest of the body stays unread, so the connection cannot carry another request.
  void refuse_buffers() {
    auto r = server_->handler_.buffers_full(request_of());
    parser_.reset();
    lease_.reset();
    write(r, false);
  }

  // A request that cannot be read whole within its bounds is answered (and counted as bad) when
  // the client can still read an answer; a connection that closed or timed out is just gone.
  void refuse_unreadable(beast::error_code ec) {
    otlp_http_response r;
    r.content_type = "text/plain; charset=utf-8";
    if (ec == http::error::body_limit) {
      r.status = 413;
      r.body = "request body larger than " + std::to_string(server_->handler_.max_body()) +
               " bytes (max_message_size)\n";
    } else if (ec == http::error::header_limit) {
      r.status = 431;
      r.body = "request header larger than " + std::to_string(kHttpHeaderLimit) + " bytes\n";
    } else if (ec == http::error::buffer_overflow) {
      r.status = 400;
      r.body = "chunk extensions or trailers larger than " + std::to_string(kHttpBufferLimit) +
               " bytes\n";
    } else if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
               ec == asio::error::operation_aborted || ec == asio::error::eof ||
               ec == asio::error::connection_reset || ec == http::error::partial_message) {
      close();
      return;
    } else {
      r.status = 400;
      r.body = "not a valid HTTP/1.1 request: " + ec.message() + "\n";
    }
    server_->handler_.count_unreadable();
    server_->warn_bad(peer_.pid, r.body.substr(0, r.body.size() - 1));
    write(r, false);
  }

  void on_read(beast::error_code ec) {
    last_active_ = std::chrono::steady_clock::now();
    if (ec) {
      refuse_unreadable(ec);
      return;
    }
    auto r = server_->handler_.handle_body(request_of());
    if (r.status == 400 || r.status == 413) server_->warn_bad(peer_.pid, r.message);
    bool keep_alive = parser_->keep_alive();
    parser_.reset();  // the body's memory goes now, not when the next request begins
    lease_.reset();
    write(r, keep_alive);
  }

  void write(const otlp_http_response& r, bool keep_alive) {
    response_ = {};
    response_.result(r.status);
    response_.version(11);
    response_.set(http::field::server, "sidelight");
    response_.set(http::field::content_type, r.content_type);
    if (!r.allow.empty()) response_.set(http::field::allow, r.allow);
    if (!r.retry_after.empty()) response_.set(http::field::retry_after, r.retry_after);
    response_.body() = r.body;
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    stream_.expires_after(server_->settings_.idle_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        if (ec || !keep_alive) {
                          self->close();
                          return;
                        }
                        self->response_ = {};
                        self->do_read();
                      });
  }

  static std::string_view view(beast::string_view v) { return {v.data(), v.size()}; }

  std::shared_ptr<otlp_http_server> server_;
  beast::basic_stream<stream_protocol> stream_;
  peer_identity peer_;                           // fixed at accept
  beast::flat_buffer buffer_{kHttpBufferLimit};  // bounded: see http_request_parser.hpp
  std::optional<http_request_parser> parser_;
  buffer_lease lease_{server_->handler_.buffers()};  // what the body holds beyond 64 KiB
  std::optional<http::response<http::empty_body>> continue_;
  http::response<http::string_body> response_;
  std::chrono::steady_clock::time_point last_active_ = std::chrono::steady_clock::now();
};

otlp_http_server::otlp_http_server(asio::io_context& io, const config::listener& settings,
                                   const intake_policy& policy, deliver_fn deliver,
                                   intake_counters& counters)
    : settings_(settings),
      counters_(counters.of(protocol::otlp_http)),
      handler_(policy, std::move(deliver), counters_, settings.max_message_size),
      unix_acceptor_(io),
      tcp_acceptor_(io) {}

std::variant<std::shared_ptr<otlp_http_server>, std::string> otlp_http_server::start(
    asio::io_context& io, const config::listener& settings, const intake_policy& policy,
    deliver_fn deliver, intake_counters& counters) {
  std::shared_ptr<otlp_http_server> s(
      new otlp_http_server(io, settings, policy, std::move(deliver), counters));
  boost::system::error_code ec;
  if (!settings.unix_path.empty()) {
    auto bound = bind_unix_socket(settings.unix_path, SOCK_STREAM, settings);
    if (auto* err = std::get_if<std::string>(&bound)) return "otlp_http: " + *err;
    s->socket_file_ = std::get<sys::bound_socket>(bound).file;
    s->unix_acceptor_.assign(stream_protocol(AF_UNIX, 0), std::get<sys::bound_socket>(bound).fd,
                             ec);
    if (ec) return "otlp_http: " + ec.message();
    s->accept(s->unix_acceptor_);
  }
  if (!settings.tcp.empty()) {
    auto parsed = config::parse_endpoint(settings.tcp, 4318);
    if (auto* err = std::get_if<std::string>(&parsed)) return "otlp_http: " + *err;
    const auto& e = std::get<config::endpoint>(parsed);
    auto ip = asio::ip::make_address(e.host == "localhost" ? "127.0.0.1" : e.host, ec);
    if (ec) return "otlp_http: expected an IP address, got '" + e.host + "'";
    stream_protocol::endpoint endpoint(asio::ip::tcp::endpoint(ip, e.port));
    s->tcp_acceptor_.open(endpoint.protocol(), ec);
    if (!ec) s->tcp_acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) s->tcp_acceptor_.bind(endpoint, ec);
    if (!ec) s->tcp_acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return "otlp_http: cannot listen on " + settings.tcp + ": " + ec.message();
    s->tcp_address_ = settings.tcp;
    s->accept(s->tcp_acceptor_);
  }
  return s;
}

std::string otlp_http_server::address() const {
  std::string a;
  if (!settings_.unix_path.empty()) a = "unix:" + settings_.unix_path;
  if (!tcp_address_.empty()) {
    if (!a.empty()) a += " and ";
    a += "http://" + tcp_address_;
  }
  return a;
}

void otlp_http_server::accept(asio::basic_socket_acceptor<stream_protocol>& acceptor) {
  acceptor.async_accept([self = shared_from_this(), &acceptor](boost::system::error_code ec,
                                                               stream_protocol::socket socket) {
    if (self->stopped_ || ec == asio::error::operation_aborted) return;
    if (!ec) {
      self->counters_.connections.fetch_add(1, std::memory_order_relaxed);
      // At the cap the connection idle the longest makes room: idle clients cannot lock out
      // active ones.
      if (evict_longest_idle(self->sessions_, self->settings_.max_connections)) {
        self->counters_.connections_evicted.fetch_add(1, std::memory_order_relaxed);
      }
      boost::system::error_code lec;
      auto local = socket.local_endpoint(lec);
      auto peer = !lec && local.protocol().family() == AF_UNIX
                      ? identify_peer(socket.native_handle())
                      : peer_identity{};
      auto s = std::make_shared<session>(self, std::move(socket), peer);
      self->sessions_.push_back(s);
      s->start();
    } else {
      // Out of descriptors, most likely: try again shortly instead of spinning.
      // One timer per wait: the Unix and TCP acceptors may both be waiting.
      auto timer = std::make_shared<asio::steady_timer>(acceptor.get_executor(), 100ms);
      timer->async_wait([self, timer, &acceptor](boost::system::error_code wec) {
        if (!wec && !self->stopped_) self->accept(acceptor);
      });
      return;
    }
    self->accept(acceptor);
  });
}

void otlp_http_server::warn_bad(pid_t pid, const std::string& what) {
  if (!warnings_.allow()) return;
  log::warn({.pid = pid, .error = what}, "otlp_http: refused a request from {}: {}{}",
            describe_peer(pid), what, warnings_.held_back());
}

void otlp_http_server::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  handler_.set_stopping();
  boost::system::error_code ec;
  unix_acceptor_.close(ec);
  tcp_acceptor_.close(ec);
  for (auto& w : sessions_) {
    if (auto s = w.lock()) s->close();
  }
  sessions_.clear();
  sys::remove_socket_file(socket_file_);
}

}  // namespace sidelight::intake
