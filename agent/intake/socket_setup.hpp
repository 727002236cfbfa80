// Binding a Unix socket the careful way: create its directory, refuse a path that exists and is
// not a socket, refuse a socket another process still serves, replace a stale one, then set the
// configured mode and group.
#pragma once

#include <string>
#include <variant>

#include "config/config.hpp"

namespace sidelight::intake {

// A bound (and, for SOCK_STREAM, listening) socket's descriptor, or why it could not be made.
std::variant<int, std::string> bind_unix_socket(const std::string& path, int type,
                                                const config::listener& settings);

// The process id of a connected Unix stream socket's peer, or 0.
int peer_pid(int fd);

}  // namespace sidelight::intake
