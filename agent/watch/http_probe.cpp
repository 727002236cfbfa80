#include "watch/http_probe.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "agent_version.hpp"
#include "config/units.hpp"

namespace sidelight::watch {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

http_prober::http_prober(asio::io_context& io, const config::http_probe& probe, done_handler done)
    : io_(io), probe_(probe), done_(std::move(done)), next_(io) {
  request_.method(http::verb::get);
  request_.target(probe_.path);
  request_.version(11);
  request_.set(http::field::host, probe_.host);
  request_.set(http::field::user_agent, "sidelight/" SIDELIGHT_VERSION " probe");
  request_.set(http::field::connection, "close");
}

void http_prober::start() {
  if (running_) return;
  running_ = true;
  round();
}

void http_prober::stop() {
  running_ = false;
  done_ = {};
  next_.cancel();
  if (stream_) stream_->close();
}

void http_prober::round() {
  if (!running_) return;
  started_ = std::chrono::steady_clock::now();
  stream_.emplace(io_);
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(kHeaderLimit));
  // The body is never read, so its announced length, however large, is no concern of ours.
  parser_->body_limit(boost::none);
  buffer_.clear();
  // One expiry for the whole round: connect, request and answer together.
  stream_->expires_after(probe_.timeout);
  asio::ip::tcp::endpoint to(asio::ip::make_address(probe_.address), probe_.port);
  stream_->async_connect(to, [self = shared_from_this()](const boost::system::error_code& ec) {
    self->on_connected(ec);
  });
}

std::string http_prober::timed_out() const {
  return "no answer from " + probe_.url + " within " + config::format_duration(probe_.timeout);
}

probe_outcome http_prober::failed(std::string failure, std::string reason) const {
  return {.ok = false, .failure = std::move(failure), .reason = std::move(reason)};
}

void http_prober::on_connected(const boost::system::error_code& ec) {
  if (!running_) return;
  if (ec == beast::error::timeout) return finish(failed("timeout", timed_out()));
  if (ec)
    return finish(
        failed("connect_failed", "cannot connect to " + probe_.url + ": " + ec.message()));
  http::async_write(*stream_, request_,
                    [self = shared_from_this()](const boost::system::error_code& e, std::size_t) {
                      self->on_sent(e);
                    });
}

void http_prober::on_sent(const boost::system::error_code& ec) {
  if (!running_) return;
  if (ec == beast::error::timeout) return finish(failed("timeout", timed_out()));
  if (ec) return finish(failed("bad_answer", "cannot send to " + probe_.url + ": " + ec.message()));
  // Only the header: the body is never read, so its size does not matter.
  http::async_read_header(*stream_, buffer_, *parser_,
                          [self = shared_from_this()](const boost::system::error_code& e,
                                                      std::size_t) { self->on_header(e); });
}

void http_prober::on_header(const boost::system::error_code& ec) {
  if (!running_) return;
  if (ec == beast::error::timeout) return finish(failed("timeout", timed_out()));
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    return finish(failed("bad_answer", probe_.url + " answered a header over " +
                                           std::to_string(kHeaderLimit / 1024) + " KiB"));
  }
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
    return finish(failed("bad_answer", probe_.url + " closed the connection without an answer"));
  }
  if (ec)
    return finish(failed("bad_answer", "no valid answer from " + probe_.url + ": " + ec.message()));
  auto status = parser_->get().result_int();
  if (status != probe_.expect_status) {
    return finish(failed("wrong_status", probe_.url + " answered " + std::to_string(status) +
                                             ", expected " + std::to_string(probe_.expect_status)));
  }
  finish({.ok = true});
}

void http_prober::finish(probe_outcome outcome) {
  auto took = std::chrono::steady_clock::now() - started_;
  outcome.seconds = std::chrono::duration<double>(took).count();
  stream_->close();
  // A handler that stops this prober must not destroy the function it runs in.
  if (auto done = done_) done(std::move(outcome));
  if (!running_) return;
  auto interval = probe_.interval.value_or(std::chrono::seconds(1));
  next_.expires_after(took < interval ? interval - took : config::duration::zero());
  next_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (self && !ec) self->round();
  });
}

}  // namespace sidelight::watch
