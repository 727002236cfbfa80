#include "watch/socket_table.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

#include "watch/proc.hpp"

namespace sidelight::watch {
namespace {

constexpr auto kMaxAge = std::chrono::milliseconds(100);
constexpr std::uint32_t kListenState = 1u << 10;  // TCP_LISTEN

// Sends one dump request and hands every answer to `on_message`. Returns an error text or "".
std::string dump(const void* request, std::size_t size,
                 const std::function<void(const nlmsghdr*)>& on_message) {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return std::string("cannot open NETLINK_SOCK_DIAG: ") + std::strerror(errno);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, request, size, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    std::string err = std::string("sock_diag request failed: ") + std::strerror(errno);
    ::close(fd);
    return err;
  }
  alignas(nlmsghdr) char buf[32768];
  std::string err;
  for (bool done = false; !done;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = std::string("sock_diag read failed: ") + std::strerror(errno);
      break;
    }
    auto len = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        err = std::string("sock_diag refused: ") + std::strerror(-e->error);
        done = true;
        break;
      }
      on_message(h);
    }
  }
  ::close(fd);
  return err;
}

std::string dump_inet(int family, std::vector<socket_table::tcp_listener>& out) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 body;
  } req{};
  req.header.nlmsg_len = sizeof req;
  req.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.body.sdiag_family = static_cast<std::uint8_t>(family);
  req.body.sdiag_protocol = IPPROTO_TCP;
  req.body.idiag_states = kListenState;
  return dump(&req, sizeof req, [&](const nlmsghdr* h) {
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) return;
    auto* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
    socket_table::tcp_listener l;
    l.family = msg->idiag_family;
    std::memcpy(l.addr.data(), msg->id.idiag_src, l.family == AF_INET ? 4 : 16);
    l.port = ntohs(msg->id.idiag_sport);
    l.inode = msg->idiag_inode;
    out.push_back(l);
  });
}

std::string dump_unix(std::vector<socket_table::unix_listener>& out) {
  struct {
    nlmsghdr header;
    unix_diag_req body;
  } req{};
  req.header.nlmsg_len = sizeof req;
  req.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.body.sdiag_family = AF_UNIX;
  req.body.udiag_states = kListenState;
  req.body.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS;
  return dump(&req, sizeof req, [&](const nlmsghdr* h) {
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(unix_diag_msg))) return;
    auto* msg = static_cast<const unix_diag_msg*>(NLMSG_DATA(h));
    socket_table::unix_listener l;
    l.inode = msg->udiag_ino;
    auto attr_len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
    for (auto* a = reinterpret_cast<const rtattr*>(msg + 1); RTA_OK(a, attr_len);
         a = RTA_NEXT(a, attr_len)) {
      if (a->rta_type == UNIX_DIAG_NAME) {
        const char* name = static_cast<const char*>(RTA_DATA(a));
        auto n = RTA_PAYLOAD(a);
        if (n > 0 && name[0] != '\0') l.path.assign(name, strnlen(name, n));
      } else if (a->rta_type == UNIX_DIAG_VFS && RTA_PAYLOAD(a) >= sizeof(unix_diag_vfs)) {
        unix_diag_vfs vfs{};
        std::memcpy(&vfs, RTA_DATA(a), sizeof vfs);
        l.vfs_inode = vfs.udiag_vfs_ino;
        l.vfs_device = vfs.udiag_vfs_dev;
      }
    }
    out.push_back(std::move(l));
  });
}

bool is_wildcard(const socket_table::tcp_listener& l) {
  for (int i = 0; i < (l.family == AF_INET ? 4 : 16); ++i) {
    if (l.addr[i] != 0) return false;
  }
  return true;
}

}  // namespace

void socket_table::refresh() {
  auto now = std::chrono::steady_clock::now();
  if (read_once_ && now - read_at_ < kMaxAge) return;
  read_once_ = true;
  read_at_ = now;
  tcp_.clear();
  unix_.clear();
  error_ = dump_inet(AF_INET, tcp_);
  if (auto e = dump_inet(AF_INET6, tcp_); error_.empty()) error_ = e;
  if (auto e = dump_unix(unix_); error_.empty()) error_ = e;
}

std::optional<std::uint64_t> socket_table::find_tcp(const std::string& host, std::uint16_t port) {
  refresh();
  std::array<std::uint8_t, 16> want{};
  int want_family = 0;
  if (!host.empty()) {
    if (inet_pton(AF_INET, host.c_str(), want.data()) == 1) {
      want_family = AF_INET;
    } else if (inet_pton(AF_INET6, host.c_str(), want.data()) == 1) {
      want_family = AF_INET6;
    }
  }
  for (const auto& l : tcp_) {
    if (l.port != port) continue;
    if (want_family == 0 || is_wildcard(l)) return l.inode;
    if (l.family == want_family &&
        std::memcmp(l.addr.data(), want.data(), want_family == AF_INET ? 4 : 16) == 0) {
      return l.inode;
    }
    // An IPv4 address listened on through an IPv4-mapped IPv6 socket.
    if (want_family == AF_INET && l.family == AF_INET6) {
      static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      if (std::memcmp(l.addr.data(), mapped, 12) == 0 &&
          std::memcmp(l.addr.data() + 12, want.data(), 4) == 0) {
        return l.inode;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> socket_table::find_unix(const std::string& path) {
  refresh();
  struct stat st {};
  bool have_file = ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
  for (const auto& l : unix_) {
    if (have_file && l.vfs_inode == st.st_ino && l.vfs_inode != 0) return l.inode;
  }
  // Without the VFS inode (older kernels), the bound name decides; a stale file must not match.
  for (const auto& l : unix_) {
    if (have_file && l.vfs_inode == 0 && l.path == path) return l.inode;
  }
  return std::nullopt;
}

namespace {

bool holds_socket(pid_t pid, const char* wanted) {
  char dir_path[64];
  std::snprintf(dir_path, sizeof dir_path, "/proc/%d/fd", static_cast<int>(pid));
  DIR* dir = ::opendir(dir_path);
  if (!dir) return false;
  bool found = false;
  char link[320];
  char target[64];
  while (struct dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::snprintf(link, sizeof link, "%s/%s", dir_path, e->d_name);
    ssize_t n = ::readlink(link, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::strcmp(target, wanted) == 0) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace

std::optional<pid_t> find_socket_owner(std::uint64_t inode, pid_t hint) {
  char wanted[64];
  std::snprintf(wanted, sizeof wanted, "socket:[%llu]", static_cast<unsigned long long>(inode));
  if (hint > 0 && holds_socket(hint, wanted)) return hint;
  // Several processes may share a listening socket (pre-fork servers): the oldest is the owner.
  std::optional<pid_t> owner;
  std::uint64_t oldest = 0;
  for (pid_t pid : list_pids()) {
    if (!holds_socket(pid, wanted)) continue;
    auto st = read_stat(pid);
    if (!st) continue;
    if (!owner || st->start_ticks < oldest) {
      owner = pid;
      oldest = st->start_ticks;
    }
  }
  return owner;
}

}  // namespace sidelight::watch
