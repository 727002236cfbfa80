// The HTTP probe against answers written by hand: a service's answer is hostile, so an oversized
// header, garbage, a close without an answer, an endless body and silence each end a round with
// the right verdict, within the probe's timeout, without reading what need not be read.
#include "watch/http_probe.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <thread>

#include "support/loopback.hpp"

using namespace sidelight;
using namespace std::chrono_literals;

namespace {

// A loopback server for one connection: reads the request's header, then does `serve` with the
// connection (whose request it is given) until the probe closes it or the test ends.
class hand_server {
 public:
  using behaviour = std::function<void(int fd, const std::string& request)>;

  explicit hand_server(behaviour serve) : serve_(std::move(serve)) {
    auto l = test::listen_on_loopback(4);
    listen_ = l.fd;
    port_ = l.port;
    thread_ = std::thread([this] { run(); });
  }
  ~hand_server() {
    done_ = true;
    thread_.join();
    ::close(listen_);
  }
  std::uint16_t port() const { return port_; }
  std::string request() const { return request_; }

 private:
  bool readable(int fd) {
    while (!done_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }

  void run() {
    if (!readable(listen_)) return;
    int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    std::string in;
    char buf[1024];
    while (in.find("\r\n\r\n") == std::string::npos && readable(fd)) {
      auto n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    request_ = in;
    if (!done_) serve_(fd, in);
    // Hold the connection until the prober lets go of it (or the test ends).
    while (readable(fd) && ::read(fd, buf, sizeof buf) > 0) {
    }
    ::close(fd);
  }

  behaviour serve_;
  int listen_ = -1;
  std::uint16_t port_ = 0;
  std::string request_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

void send_all(int fd, const std::string& text) {
  (void)!::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
}

config::http_probe probe_of(std::uint16_t port, const std::string& path = "/healthz") {
  config::http_probe p;
  p.url = "http://127.0.0.1:" + std::to_string(port) + path;
  p.address = "127.0.0.1";
  p.port = port;
  p.host = "127.0.0.1:" + std::to_string(port);
  p.path = path;
  p.timeout = 300ms;
  p.interval = 10s;
  return p;
}

// One round of the probe.
watch::probe_outcome probe_once(const config::http_probe& p) {
  boost::asio::io_context io;
  std::optional<watch::probe_outcome> got;
  auto prober = std::make_shared<watch::http_prober>(io, p, [&](watch::probe_outcome o) {
    got = std::move(o);
    io.stop();
  });
  prober->start();
  io.run_for(10s);
  prober->stop();
  INFO("the probe gave no verdict within 10 s");
  REQUIRE(got);
  return *got;
}

}  // namespace

TEST_CASE("http probe: the expected status is healthy, and the body is never read", "[probe]") {
  hand_server s([](int fd, const std::string&) {
    // A body far larger than anything the probe may read, sent as fast as it is taken.
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n");
    send_all(fd, std::string(64 * 1024, 'x'));
  });
  auto o = probe_once(probe_of(s.port(), "/healthz?deep=1"));
  INFO(o.reason);
  CHECK(o.ok);
  CHECK(o.failure.empty());
  CHECK(o.seconds >= 0);
  auto req = s.request();
  INFO(req);
  CHECK(req.starts_with("GET /healthz?deep=1 HTTP/1.1\r\n"));
  CHECK(req.find("\r\nHost: 127.0.0.1:" + std::to_string(s.port()) + "\r\n") != std::string::npos);
}

TEST_CASE("http probe: another status is wrong_status", "[probe]") {
  hand_server s([](int fd, const std::string&) {
    send_all(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  });
  auto o = probe_once(probe_of(s.port()));
  CHECK_FALSE(o.ok);
  CHECK(o.failure == "wrong_status");
  CHECK(o.reason.find("answered 404, expected 200") != std::string::npos);

  hand_server t(
      [](int fd, const std::string&) { send_all(fd, "HTTP/1.1 204 No Content\r\n\r\n"); });
  auto p = probe_of(t.port());
  p.expect_status = 204;
  CHECK(probe_once(p).ok);
}

TEST_CASE("http probe: a header over 8 KiB is a bad answer, not read on", "[probe]") {
  hand_server s([](int fd, const std::string&) {
    send_all(fd, "HTTP/1.1 200 OK\r\nX-Pad: " + std::string(16 * 1024, 'a') + "\r\n\r\n");
  });
  auto o = probe_once(probe_of(s.port()));
  CHECK_FALSE(o.ok);
  CHECK(o.failure == "bad_answer");
  CHECK(o.reason.find("header over 8 KiB") != std::string::npos);
}

TEST_CASE("http probe: garbage and a close without an answer are bad answers", "[probe]") {
  hand_server garbage([](int fd, const std::string&) { send_all(fd, "SSH-2.0-OpenSSH\r\n\r\n"); });
  auto g = probe_once(probe_of(garbage.port()));
  CHECK_FALSE(g.ok);
  CHECK(g.failure == "bad_answer");

  hand_server closes([](int fd, const std::string&) { ::shutdown(fd, SHUT_WR); });
  auto c = probe_once(probe_of(closes.port()));
  CHECK_FALSE(c.ok);
  CHECK(c.failure == "bad_answer");
  CHECK(c.reason.find("closed the connection without an answer") != std::string::npos);
}

TEST_CASE("http probe: silence is a timeout, a closed port connect_failed", "[probe]") {
  hand_server silent([](int, const std::string&) {});
  auto p = probe_of(silent.port());
  auto o = probe_once(p);
  CHECK_FALSE(o.ok);
  CHECK(o.failure == "timeout");
  CHECK(o.reason == "no answer from " + p.url + " within 300ms");
  CHECK(o.seconds >= 0.25);  // the whole timeout was given

  // A header that trickles in never gets more time than the timeout.
  hand_server trickle([](int fd, const std::string&) {
    send_all(fd, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 100; ++i) {
      send_all(fd, "X: y\r\n");
      pollfd none{fd, POLLIN, 0};
      if (::poll(&none, 1, 20) > 0) return;  // the probe closed
    }
  });
  CHECK(probe_once(probe_of(trickle.port())).failure == "timeout");

  auto closed = test::listen_on_loopback(0);
  ::close(closed.fd);  // bound, never listening, now closed: nothing accepts there
  auto refused = probe_once(probe_of(closed.port));
  CHECK(refused.failure == "connect_failed");
  CHECK(refused.reason.find("cannot connect to http://127.0.0.1:") != std::string::npos);
}
