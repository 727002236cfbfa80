// OTLP/HTTP intake (Boost.Beast): POST /v1/traces, /v1/logs and /v1/metrics on a Unix socket (and
// opt-in loopback TCP), with protobuf or OTLP/JSON bodies, optionally gzip-compressed. Answers as
// the OTLP/HTTP specification says: 200 with an empty Export*ServiceResponse in the request's
// encoding, 400 with a google.rpc.Status, 404, 405, 413, 415, and 503 with Retry-After while
// stopping. Runs on the intake thread; each connection has a body limit, an idle timeout and a
// place under the connection cap.
#pragma once

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"
#include "intake/admission.hpp"
#include "intake/connections.hpp"
#include "intake/intake.hpp"
#include "sys/unix_socket.hpp"

namespace sidelight::intake {

namespace asio = boost::asio;

struct otlp_http_request {
  std::string_view method;
  std::string_view target;
  std::string_view content_type;
  std::string_view content_encoding;
  std::string_view body;
  peer_identity peer;  // fixed when the client connected
};

struct otlp_http_response {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::string allow;        // with 405
  std::string retry_after;  // with 503
  std::string message;      // why a request was refused, for the log
};

// Everything between the parsed HTTP request and the response, without sockets: the HTTP side of
// a request (path, method, media type, encoding, OTLP/JSON), then admission.
class otlp_http_handler {
 public:
  otlp_http_handler(const intake_policy& policy, deliver_fn deliver, protocol_counters& counters,
                    std::uint64_t max_body)
      : admission_(policy, std::move(deliver), counters), max_body_(max_body) {}

  // The answer to a request known from its head alone (wrong path, method, type or encoding;
  // stopping; the memory limit), so that its body need not be read; nullopt when the body is
  // wanted. `req.body` is not looked at.
  std::optional<otlp_http_response> answer_head(const otlp_http_request& req) const;
  // The rest of a request whose head answer_head() let through.
  otlp_http_response handle_body(const otlp_http_request& req) const;
  // The whole request: answer_head(), then the body.
  otlp_http_response handle(const otlp_http_request& req) const;
  // A request that could not be read whole within its bounds: counted as a bad one.
  void count_unreadable() const { admission_.malformed(""); }
  // A request whose body intake.max_buffered_bytes could not cover: 429, counted as rejected.
  otlp_http_response buffers_full(const otlp_http_request& req) const;
  buffer_budget& buffers() const { return admission_.policy().buffers(); }
  std::uint64_t max_body() const { return max_body_; }
  void set_stopping() { stopping_ = true; }

 private:
  otlp_http_response answer(const admit_result& v, bool json) const;

  admission admission_;
  std::uint64_t max_body_;
  bool stopping_ = false;
};

class otlp_http_server : public std::enable_shared_from_this<otlp_http_server> {
 public:
  static std::variant<std::shared_ptr<otlp_http_server>, std::string> start(
      asio::io_context& io, const config::listener& settings, const intake_policy& policy,
      deliver_fn deliver, intake_counters& counters);

  // Stops accepting, answers 503 to whatever arrives meanwhile, closes connections; idempotent.
  // Call on the io_context's thread.
  void shutdown();
  std::string address() const;

 private:
  class session;
  otlp_http_server(asio::io_context& io, const config::listener& settings,
                   const intake_policy& policy, deliver_fn deliver, intake_counters& counters);
  void accept(asio::basic_socket_acceptor<asio::generic::stream_protocol>& acceptor);
  void warn_bad(pid_t pid, const std::string& what);

  config::listener settings_;
  protocol_counters& counters_;
  otlp_http_handler handler_;
  asio::basic_socket_acceptor<asio::generic::stream_protocol> unix_acceptor_;
  sys::socket_file socket_file_;  // removed at stop only while still ours
  asio::basic_socket_acceptor<asio::generic::stream_protocol> tcp_acceptor_;
  std::string tcp_address_;
  std::vector<std::weak_ptr<session>> sessions_;
  client_warnings warnings_;
  bool stopped_ = false;
};

}  // namespace sidelight::intake
