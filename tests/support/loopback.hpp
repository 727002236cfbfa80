// A TCP listener on 127.0.0.1 at a free port, for tests that play a service by hand (header-only,
// so that unit tests can use it without the integration harness).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace sidelight::test {

struct loopback_listener {
  int fd = -1;
  std::uint16_t port = 0;
};

// Bound and listening with `backlog`, or only bound with backlog 0 (a port nothing accepts on
// while the socket is open). Throws std::system_error when the kernel refuses.
inline loopback_listener listen_on_loopback(int backlog) {
  loopback_listener out;
  out.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (out.fd < 0 || ::bind(out.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      (backlog > 0 && ::listen(out.fd, backlog) != 0) ||
      ::getsockname(out.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int err = errno;
    if (out.fd >= 0) ::close(out.fd);
    throw std::system_error(err, std::generic_category(), "loopback listener");
  }
  out.port = ntohs(a.sin_port);
  return out;
}

}  // namespace sidelight::test
