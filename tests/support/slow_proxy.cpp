#include "support/slow_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/loopback.hpp"

namespace sidelight::test {

namespace {

// Copies what is readable on `from` to `to`; false once either side is done.
bool pass_on(int from, int to) {
  char buf[16384];
  auto n = ::read(from, buf, sizeof buf);
  if (n <= 0) return false;
  for (ssize_t off = 0; off < n;) {
    auto w = ::write(to, buf + off, static_cast<std::size_t>(n - off));
    if (w <= 0) return false;
    off += w;
  }
  return true;
}

}  // namespace

slow_proxy::slow_proxy(std::uint16_t target_port, std::chrono::milliseconds connect_delay)
    : target_port_(target_port), delay_(connect_delay) {
  auto l = listen_on_loopback(16);
  listen_fd_ = l.fd;
  port_ = l.port;
  acceptor_ = std::thread([this] { accept_loop(); });
}

slow_proxy::~slow_proxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::lock_guard lock(mutex_);
  for (auto& t : relays_)
    t.join();
}

void slow_proxy::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    ++connections_;
    std::lock_guard lock(mutex_);
    relays_.emplace_back([this, client] { relay(client); });
  }
}

void slow_proxy::relay(int client) {
  // Hold the connection without a byte either way, as long as told or until the proxy stops.
  auto until = std::chrono::steady_clock::now() + delay_;
  while (!stopping_ && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(target_port_);
  if (!stopping_ && server >= 0 &&
      ::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    while (!stopping_) {
      if (::poll(p, 2, 50) < 0) break;
      if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !pass_on(client, server)) break;
      if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !pass_on(server, client)) break;
    }
  }
  if (server >= 0) ::close(server);
  ::close(client);
}

}  // namespace sidelight::test
