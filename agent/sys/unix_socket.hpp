// Creating a Unix socket at a path without handing anything to whoever else can write near it.
//
// The socket's directory is created if missing (0755) and must then be owned by root or by
// sidelight's user, and not writable by group or others unless it is sticky (like /tmp, where
// nobody can remove or rename another's entry). A path that exists and is not a socket is
// refused, and so is a socket some process still serves; a stale one is replaced.
//
// The socket is bound in a private directory (0700, made inside the target directory, so on the
// same filesystem), given its mode and group there, where nobody else can put a link in its place,
// set listening, and only then renamed onto its path: rename(2) replaces the name itself and
// follows no link. Clients never see it with another mode or group, and no chmod or chown is ever
// applied to a path that another user could swap for a symbolic link. (fchmod or fchown on the
// socket's descriptor do not change the file a Unix socket is bound to.)
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <string>
#include <variant>

namespace sidelight::sys {

struct unix_socket_options {
  int type = SOCK_STREAM;  // or SOCK_DGRAM
  mode_t mode = 0660;
  std::string group;  // a group name or number; empty: the process's group
  int backlog = 1024;
};

// The file a socket was bound to, to tell it later from whatever else may be at its path.
struct socket_file {
  std::string path;
  dev_t device = 0;
  ino_t inode = 0;
};

struct bound_socket {
  int fd = -1;
  socket_file file;
};

// A bound (and, for SOCK_STREAM, listening) non-blocking socket at `path`, or an error text that
// starts with the path.
std::variant<bound_socket, std::string> bind_unix_socket(const std::string& path,
                                                         const unix_socket_options& options);

// Removes the socket at its path at a stop, only if it is still the file that was bound there:
// a socket another process made there since (a second agent, after ours was removed by hand) or
// any other file put in its place is left alone. Nothing for an empty path.
void remove_socket_file(const socket_file& file);

}  // namespace sidelight::sys
