// The admin endpoints over HTTP/1.1 (Boost.Beast), on the agent's own event loop: /healthz,
// /readyz, /metrics (Prometheus text), /api/v1/status (JSON) and / (a status page). Listens on a
// loopback TCP address or a Unix socket. Small by design: GET only, one request per connection,
// bounded header size, 2 s to send it, and a cap on connections at which the one waiting longest
// for its request is closed, so that slow or stuck clients never keep a health probe out.
#pragma once

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "admin/render.hpp"
#include "sys/unix_socket.hpp"

namespace sidelight::admin {

namespace asio = boost::asio;
class admin_session;

struct http_response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string allow;  // for 405
};

// Routing as a pure function, so that every endpoint is tested without sockets.
http_response route(const std::string& method, const std::string& target,
                    const status_provider& status);

class admin_server : public std::enable_shared_from_this<admin_server> {
 public:
  static constexpr std::size_t kMaxConnections = 64;

  // `address` is HOST:PORT (port 0 picks a free one) or unix:/path. An error text on failure.
  // `status` must outlive the server; it is read on `io`'s thread.
  static std::variant<std::shared_ptr<admin_server>, std::string> listen(
      asio::io_context& io, const std::string& address, const status_provider& status);
  ~admin_server();

  // Where it listens, with the chosen port: "127.0.0.1:13133" or "unix:/run/sidelight/admin.sock".
  const std::string& address() const { return address_; }
  void stop();

 private:
  admin_server(asio::io_context& io, const status_provider& status);
  void accept();
  void make_room();
  friend class admin_session;

  asio::basic_socket_acceptor<asio::generic::stream_protocol> acceptor_;
  const status_provider& status_;
  std::string address_;
  std::string unix_path_;
  sys::socket_file socket_file_;  // removed at stop only while still ours
  std::vector<std::weak_ptr<admin_session>> sessions_;
};

// `sidelight status`: GET /api/v1/status from an admin address, with a timeout.
struct fetch_result {
  bool ok = false;
  std::string text;     // the body when ok, else an error naming the address
  unsigned status = 0;  // the HTTP status; 0 when there was no answer
};
fetch_result fetch_status(const std::string& address);
// `sidelight health`: GET any admin path. ok on 200; otherwise `text` is the body when there was
// an answer (status set), or an error naming the address when there was none.
fetch_result fetch(const std::string& address, const std::string& target);

}  // namespace sidelight::admin
