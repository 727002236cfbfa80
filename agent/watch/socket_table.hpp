// The kernel's table of listening sockets, read through NETLINK_SOCK_DIAG without connecting to
// anything. One dump serves every socket target probed in the same moment.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sidelight::watch {

class socket_table {
 public:
  struct tcp_listener {
    int family = 0;                       // AF_INET or AF_INET6
    std::array<std::uint8_t, 16> addr{};  // network order; IPv4 uses the first 4 bytes
    std::uint16_t port = 0;
    std::uint64_t inode = 0;
  };
  struct unix_listener {
    std::string path;
    std::uint64_t vfs_inode = 0;
    std::uint32_t vfs_device = 0;
    std::uint64_t inode = 0;
  };

  // The inode of a socket listening on `host`:`port` (host empty: any local address), counting
  // wildcard listeners. nullopt when nothing listens there.
  std::optional<std::uint64_t> find_tcp(const std::string& host, std::uint16_t port);
  // The inode of a socket listening at `path`, matched by the file's inode, or by name.
  std::optional<std::uint64_t> find_unix(const std::string& path);

  // Non-empty after a dump failed (no sock_diag in this kernel, say).
  const std::string& error() const { return error_; }

  // The next find_* reads the kernel's tables again, however recent the last dump is.
  void invalidate() { read_once_ = false; }

 private:
  void refresh();
  std::chrono::steady_clock::time_point read_at_{};
  bool read_once_ = false;
  std::vector<tcp_listener> tcp_;
  std::vector<unix_listener> unix_;
  std::string error_;
};

// The process holding a socket inode, found by scanning /proc/*/fd; `hint` is tried first.
// nullopt when no visible process holds it (other users' processes need privileges).
std::optional<pid_t> find_socket_owner(std::uint64_t inode, pid_t hint = 0);

}  // namespace sidelight::watch
