#include "support/http_upstream.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <stdexcept>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace sidelight::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// What the exporter sent, inflated; empty when it is not valid gzip. Its own, not the agent's
// (codec/gzip.hpp): the integration tests link none of the code they test.
std::string gunzip(const std::string& in) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return {};
  std::string out;
  char chunk[64 * 1024];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - z.avail_out);
  }
  inflateEnd(&z);
  return rc == Z_STREAM_END ? out : std::string();
}

}  // namespace

http_upstream::fault http_upstream::status(unsigned code, std::string retry_after) {
  fault f;
  f.status = code;
  f.retry_after = std::move(retry_after);
  return f;
}

http_upstream::fault http_upstream::hang() {
  fault f;
  f.what = fault::kind::hang;
  return f;
}

http_upstream::fault http_upstream::drop_mid_request() {
  fault f;
  f.what = fault::kind::drop_mid_request;
  return f;
}

http_upstream::fault http_upstream::close_without_answer() {
  fault f;
  f.what = fault::kind::close_without_answer;
  return f;
}

http_upstream::fault http_upstream::close_after_answer() {
  fault f;
  f.what = fault::kind::close_after_answer;
  return f;
}

http_upstream::fault http_upstream::raw(std::string head, std::string repeat, std::size_t bytes) {
  fault f;
  f.what = fault::kind::raw;
  f.status = 0;  // what it took is not recorded: the client cannot have seen an answer
  f.raw_head = std::move(head);
  f.raw_repeat = std::move(repeat);
  f.raw_bytes = bytes;
  return f;
}

namespace {

// Writes the fault's hostile answer until it is all out or the client stops reading.
void write_raw(asio::ip::tcp::socket& socket, const http_upstream::fault& f) {
  beast::error_code ec;
  asio::write(socket, asio::buffer(f.raw_head), ec);
  std::string block;
  while (block.size() < 64 * 1024)
    block += f.raw_repeat;
  for (std::size_t sent = f.raw_head.size(); !ec && sent < f.raw_bytes; sent += block.size())
    asio::write(socket, asio::buffer(block), ec);
}

}  // namespace

http_upstream::fault http_upstream::slow(std::chrono::milliseconds delay) {
  fault f;
  f.delay = delay;
  return f;
}

http_upstream::http_upstream() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("http_upstream: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

http_upstream::~http_upstream() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (int fd : open_fds_)
      ::shutdown(fd, SHUT_RDWR);
  }
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);
    workers.swap(workers_);
  }
  for (auto& w : workers)
    w.join();
}

void http_upstream::next(int count, const fault& f) {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < count; ++i)
    pending_.push_back(f);
}

void http_upstream::accept_loop() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    std::lock_guard lock(mutex_);
    if (stopping_) {
      if (fd >= 0) ::close(fd);
      return;
    }
    if (fd < 0) continue;
    ++connections_;
    open_fds_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void http_upstream::serve(int fd) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.assign(asio::ip::tcp::v4(), fd);
  beast::flat_buffer buffer;
  for (;;) {
    beast::error_code ec;
    http::request_parser<http::string_body> parser;
    parser.body_limit(256 << 20);
    http::read_header(socket, buffer, parser, ec);
    if (ec) break;
    fault f;
    if (std::string_view(parser.get().target()).ends_with("/v1/traces")) {
      std::lock_guard lock(mutex_);
      if (!pending_.empty()) {
        f = pending_.front();
        pending_.pop_front();
      }
    }
    if (f.what == fault::kind::drop_mid_request) break;  // the body stays unread
    http::read(socket, buffer, parser, ec);
    if (ec) break;
    auto req = parser.release();
    request_seen seen;
    seen.target = std::string(req.target());
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      seen.headers[name] = std::string(field.value());
    }
    seen.body_bytes = req.body().size();
    seen.at = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(seen);
    }
    changed_.notify_all();
    if (f.what == fault::kind::hang) continue;  // never answers; reads until the client goes
    if (f.delay.count() > 0) std::this_thread::sleep_for(f.delay);
    if (f.status >= 200 && f.status < 300) {
      auto body = req[http::field::content_encoding] == "gzip" ? gunzip(req.body()) : req.body();
      record(seen.target, body);
    }
    if (f.what == fault::kind::close_without_answer) break;
    if (f.early_hints) {
      http::response<http::empty_body> hints{http::status{103}, 11};
      hints.set(http::field::link, "</style.css>; rel=preload");
      http::write(socket, hints, ec);
    }
    if (f.what == fault::kind::raw) {
      write_raw(socket, f);
      break;
    }
    http::response<http::string_body> res{static_cast<http::status>(f.status), 11};
    res.set(http::field::content_type, "application/x-protobuf");
    if (!f.retry_after.empty()) res.set(http::field::retry_after, f.retry_after);
    res.body() = f.body;
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    http::write(socket, res, ec);
    if (!ec && f.what == fault::kind::close_after_answer) {
      socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
      // Until the client closes its end: a clean end of stream, nothing else, counts.
      char byte = 0;
      ssize_t n = 0;
      while ((n = ::recv(fd, &byte, 1, 0)) > 0 || (n < 0 && errno == EINTR)) {
      }
      if (n == 0) {
        std::lock_guard lock(mutex_);
        ++closed_by_client_;
      }
      changed_.notify_all();
      break;
    }
    if (ec || !req.keep_alive()) break;
  }
  std::lock_guard lock(mutex_);
  std::erase(open_fds_, fd);
  beast::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void http_upstream::record(const std::string& target, const std::string& body) {
  namespace col = opentelemetry::proto::collector;
  std::lock_guard lock(mutex_);
  if (target.ends_with("/v1/traces")) {
    col::trace::v1::ExportTraceServiceRequest r;
    if (!r.ParseFromString(body)) return;
    for (const auto& rs : r.resource_spans())
      for (const auto& ss : rs.scope_spans())
        for (const auto& s : ss.spans())
          span_names_.push_back(s.name());
  }
  changed_.notify_all();
}

bool http_upstream::wait_spans(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return span_names_.size() >= count; });
}

bool http_upstream::wait_requests(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
}

std::vector<std::string> http_upstream::span_names() const {
  std::lock_guard lock(mutex_);
  return span_names_;
}

std::vector<http_upstream::request_seen> http_upstream::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool http_upstream::wait_closed_by_client(std::size_t count,
                                          std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return closed_by_client_ >= count; });
}

std::size_t http_upstream::connections() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

}  // namespace sidelight::test
