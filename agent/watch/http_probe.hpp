// An HTTP probe of a target: every interval, GET the configured URL on the event loop and compare
// the answer's status. The answer is the service's and may be anything: only its header is read,
// at most kHeaderLimit bytes of it, never the body, and one timeout covers connecting, sending
// and the answer, so a service that accepts and never answers costs one socket for `timeout`.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "config/targets.hpp"
#include "watch/watch.hpp"

namespace sidelight::watch {

class http_prober : public std::enable_shared_from_this<http_prober> {
 public:
  static constexpr std::size_t kHeaderLimit = 8 * 1024;
  using done_handler = std::function<void(probe_outcome)>;

  // `probe.interval` is set (config::resolve_probe_interval).
  http_prober(boost::asio::io_context& io, const config::http_probe& probe, done_handler done);

  // The first round at once, then one every interval (at once after a round that overran it).
  void start();
  // Closes the round in progress; `done` is not called again. Idempotent.
  void stop();

 private:
  void round();
  void on_connected(const boost::system::error_code& ec);
  void on_sent(const boost::system::error_code& ec);
  void on_header(const boost::system::error_code& ec);
  void finish(probe_outcome outcome);
  probe_outcome failed(std::string failure, std::string reason) const;
  std::string timed_out() const;

  boost::asio::io_context& io_;
  config::http_probe probe_;
  done_handler done_;
  boost::asio::steady_timer next_;
  boost::beast::http::request<boost::beast::http::empty_body> request_;
  std::optional<boost::beast::tcp_stream> stream_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::empty_body>> parser_;
  boost::beast::flat_buffer buffer_{kHeaderLimit};
  std::chrono::steady_clock::time_point started_{};
  bool running_ = false;
};

}  // namespace sidelight::watch
