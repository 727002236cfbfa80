#include "sys/unix_socket.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

namespace sidelight::sys {
namespace {

constexpr const char* kBoundName = "s";  // the socket's name inside the private directory

std::string errno_text(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

// Closes a descriptor when it goes out of scope.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

bool fill_address(const std::string& path, sockaddr_un& addr) {
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

std::string owner_name(uid_t uid) {
  passwd* pw = ::getpwuid(uid);
  return "uid " + std::to_string(uid) + (pw ? " (" + std::string(pw->pw_name) + ")" : "");
}

// Why `dir` may not hold sidelight's sockets, or "".
std::string directory_problem(const std::string& dir, const struct stat& st) {
  uid_t me = ::geteuid();
  if (st.st_uid != 0 && st.st_uid != me) {
    return dir + ": the socket directory is owned by " + owner_name(st.st_uid) +
           ", who could replace the socket; it must belong to root or to sidelight's user";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return dir + ": the socket directory (mode " + mode +
           ") is writable by group or others, who could replace the socket; make it 0755, or "
           "sticky (like /tmp)";
  }
  return "";
}

// Opens the socket's directory, creating it (0755) if missing, and checks who may write to it.
int open_directory(const std::string& dir, std::string& error) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      error = errno_text(dir + ": cannot create the socket's directory", errno);
      return -1;
    }
  }
  fd_guard fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  struct stat st {};
  if (fd.fd < 0 || ::fstat(fd.fd, &st) != 0) {
    error = errno_text(dir + ": cannot open the socket's directory", errno);
    return -1;
  }
  error = directory_problem(dir, st);
  return error.empty() ? fd.release() : -1;
}

// True when some process accepts connections (or datagrams) on `path`. Non-blocking: a listener
// whose backlog is full (EAGAIN) is in use too, and must not stall the caller.
bool in_use(const std::string& path) {
  sockaddr_un addr{};
  if (!fill_address(path, addr)) return false;
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    fd_guard fd{::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (fd.fd < 0) return false;
    if (::connect(fd.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return true;
    if (errno == EAGAIN || errno == EINPROGRESS) return true;
    if (errno != EPROTOTYPE) return false;  // ECONNREFUSED: nobody is there, the file is stale
  }
  return false;
}

// What is at `name` in the directory now: "" when nothing or a stale socket, else why not.
std::string existing_entry_problem(int dir_fd, const std::string& name, const std::string& path) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return "";
  if (!S_ISSOCK(st.st_mode)) return path + ": exists and is not a socket; refusing to replace it";
  if (in_use(path)) return path + ": in use by another process";
  return "";
}

// A new directory only this process can enter, inside `dir_fd`; its name in `name`.
int make_private_directory(int dir_fd, std::string& name) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    unsigned char random[4];
    if (::getrandom(random, sizeof random, 0) != sizeof random) return -1;
    char buf[16];
    std::snprintf(buf, sizeof buf, ".sl-%02x%02x%02x%02x", random[0], random[1], random[2],
                  random[3]);
    if (::mkdirat(dir_fd, buf, 0700) != 0) {
      if (errno == EEXIST) continue;
      return -1;
    }
    name = buf;
    int fd = ::openat(dir_fd, buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) ::unlinkat(dir_fd, buf, AT_REMOVEDIR);
    return fd;
  }
  errno = EEXIST;
  return -1;
}

std::variant<gid_t, std::string> group_id(const std::string& group) {
  gid_t gid = 0;
  auto [p, ec] = std::from_chars(group.data(), group.data() + group.size(), gid);
  if (ec == std::errc() && p == group.data() + group.size()) return gid;
  ::group* g = ::getgrnam(group.c_str());
  if (!g) return "unknown group '" + group + "'";
  return g->gr_gid;
}

// Binds a socket at private/s, gives it its mode and group, and sets it listening.
// `bound` is the socket file's stat, for its identity.
std::variant<int, std::string> bind_private(const std::string& private_path, int private_fd,
                                            const unix_socket_options& o, struct stat& bound) {
  sockaddr_un addr{};
  // The real path when it fits in sun_path; else the directory through its descriptor, which
  // cannot be moved from under us either.
  std::string bind_path = private_path + "/" + kBoundName;
  if (!fill_address(bind_path, addr)) {
    bind_path = "/proc/self/fd/" + std::to_string(private_fd) + "/" + kBoundName;
    fill_address(bind_path, addr);
  }
  fd_guard fd{::socket(AF_UNIX, o.type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (fd.fd < 0) return errno_text("socket", errno);
  if (::bind(fd.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return errno_text("bind", errno);
  }
  // Nobody else can enter the private directory: these act on the socket just bound.
  if (::fstatat(private_fd, kBoundName, &bound, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISSOCK(bound.st_mode)) {
    return "bind: the socket did not appear where it was bound";
  }
  if (::fchmodat(private_fd, kBoundName, o.mode & 07777, 0) != 0) {
    return errno_text("chmod", errno);
  }
  if (!o.group.empty()) {
    auto gid = group_id(o.group);
    if (auto* err = std::get_if<std::string>(&gid)) return *err;
    if (::fchownat(private_fd, kBoundName, static_cast<uid_t>(-1), std::get<gid_t>(gid),
                   AT_SYMLINK_NOFOLLOW) != 0) {
      return errno_text("chown", errno);
    }
  }
  if (o.type == SOCK_STREAM && ::listen(fd.fd, o.backlog) != 0) return errno_text("listen", errno);
  return fd.release();
}

}  // namespace

std::variant<bound_socket, std::string> bind_unix_socket(const std::string& path,
                                                         const unix_socket_options& options) {
  sockaddr_un addr{};
  if (!fill_address(path, addr)) return path + ": socket path too long";
  std::filesystem::path p(path);
  std::string dir = p.parent_path().empty() ? "." : p.parent_path().string();
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..") return path + ": not a socket path";
  std::string error;
  fd_guard dir_fd{open_directory(dir, error)};
  if (dir_fd.fd < 0) return error;
  if (auto why = existing_entry_problem(dir_fd.fd, name, path); !why.empty()) return why;

  std::string private_name;
  fd_guard private_fd{make_private_directory(dir_fd.fd, private_name)};
  if (private_fd.fd < 0) return errno_text(dir + ": cannot make a private directory", errno);
  struct stat st {};
  auto bound = bind_private(dir + "/" + private_name, private_fd.fd, options, st);
  if (auto* fd = std::get_if<int>(&bound)) {
    // The socket takes its place in one step, replacing a stale socket (or whatever was put
    // there since the check) without following it. A rename keeps the inode.
    if (::renameat(private_fd.fd, kBoundName, dir_fd.fd, name.c_str()) != 0) {
      int err = errno;
      ::close(*fd);
      bound = errno_text(path + ": cannot move the socket into place", err);
    }
  }
  ::unlinkat(private_fd.fd, kBoundName, 0);
  ::unlinkat(dir_fd.fd, private_name.c_str(), AT_REMOVEDIR);
  if (auto* err = std::get_if<std::string>(&bound)) {
    return err->starts_with(path) ? *err : path + ": " + *err;
  }
  return bound_socket{std::get<int>(bound), {path, st.st_dev, st.st_ino}};
}

void remove_socket_file(const socket_file& file) {
  if (file.path.empty()) return;
  struct stat st {};
  if (::lstat(file.path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_dev != file.device ||
      st.st_ino != file.inode) {
    return;
  }
  ::unlink(file.path.c_str());
}

}  // namespace sidelight::sys
