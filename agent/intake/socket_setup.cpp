#include "intake/socket_setup.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sys/unix_socket.hpp"
#include "watch/proc.hpp"

// Linux 6.5; Debian 12's headers predate them.
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace sidelight::intake {

std::variant<sys::bound_socket, std::string> bind_unix_socket(const std::string& path, int type,
                                                              const config::listener& settings) {
  sys::unix_socket_options o;
  o.type = type;
  o.mode = static_cast<mode_t>(settings.mode);
  o.group = settings.group;
  auto bound = sys::bind_unix_socket(path, o);
  if (auto* b = std::get_if<sys::bound_socket>(&bound); b && type == SOCK_DGRAM) {
    int on = 1;
    ::setsockopt(b->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    request_sender_pidfds(b->fd);
  }
  return bound;
}

bool request_sender_pidfds(int fd) {
  int on = 1;
  return ::setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &on, sizeof on) == 0;
}

peer_identity identify_sender(pid_t pid, int pidfd) {
  peer_identity id;
  if (pid > 0) {
    auto st = watch::read_stat(pid);
    if (st && !st->zombie()) id = {pid, st->start_ticks};
  }
  if (pidfd >= 0) {
    // The pidfd names the very process that connected or sent; still running after the read
    // above, it held the PID during the read, so the start time is its own. Readable: it exited,
    // and whoever has the PID now is someone else.
    pollfd p{pidfd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 0) id = {};
    ::close(pidfd);
  }
  return id;
}

peer_identity identify_peer(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) return {};
  int pidfd = -1;
  len = sizeof pidfd;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) pidfd = -1;
  return identify_sender(cred.pid, pidfd);
}

}  // namespace sidelight::intake
