// Intake's Unix sockets: created by sys::bind_unix_socket (the directory checked, the socket bound
// in a private directory and renamed into place with its mode and group), and the identity of the
// process at the other end, fixed when it connects.
#pragma once

#include <string>
#include <variant>

#include "config/config.hpp"
#include "intake/intake.hpp"
#include "sys/unix_socket.hpp"

namespace sidelight::intake {

// A bound (and, for SOCK_STREAM, listening) socket's descriptor, or why it could not be made.
// Datagram sockets are set to receive each sender's credentials.
// Its file is removed at a stop with sys::remove_socket_file.
std::variant<sys::bound_socket, std::string> bind_unix_socket(const std::string& path, int type,
                                                              const config::listener& settings);

// The process at the other end of a connected Unix stream socket, as it is now: its PID
// (SO_PEERCRED) and start time. Where the kernel gives the peer's pidfd (SO_PEERPIDFD, Linux 6.5),
// a process that has already exited is told from a newer one that took its PID; without it, a
// PID reused in the moment between connect and accept goes unnoticed. Unknown (pid 0) for TCP, or
// when the process is gone.
peer_identity identify_peer(int fd);

// The sender of a datagram, from its SCM_CREDENTIALS pid and, when the kernel gave one, its
// SCM_PIDFD (closed here), by the same rule.
peer_identity identify_sender(pid_t pid, int pidfd);

// Ask for SCM_PIDFD with each datagram (Linux 6.5); false where the kernel cannot.
bool request_sender_pidfds(int fd);

}  // namespace sidelight::intake
