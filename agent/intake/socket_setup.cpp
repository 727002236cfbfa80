#include "intake/socket_setup.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace sidelight::intake {

namespace {

std::string errno_text(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

bool fill_address(const std::string& path, sockaddr_un& addr) {
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

// True when some process accepts connections (or datagrams) on `path`.
bool in_use(const std::string& path, int type) {
  sockaddr_un addr{};
  if (!fill_address(path, addr)) return false;
  int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool used = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return used;
}

}  // namespace

std::variant<int, std::string> bind_unix_socket(const std::string& path, int type,
                                                const config::listener& settings) {
  sockaddr_un addr{};
  if (!fill_address(path, addr)) return path + ": socket path too long";
  auto dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return dir.string() + ": cannot create the socket's directory: " + ec.message();
    ::chmod(dir.c_str(), 0755);
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return path + ": exists and is not a socket; refusing to replace it";
    if (in_use(path, type)) return path + ": in use by another process";
    if (::unlink(path.c_str()) != 0)
      return errno_text(path + ": cannot remove the stale socket", errno);
  }
  int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return errno_text("socket", errno);
  auto fail = [&](const std::string& what) -> std::variant<int, std::string> {
    int err = errno;
    ::close(fd);
    return errno_text(path + ": " + what, err);
  };
  // The mode is applied to the path after bind; a restrictive umask meanwhile keeps others out.
  auto old_umask = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old_umask);
  if (rc != 0) return fail("bind");
  if (::chmod(path.c_str(), settings.mode) != 0) return fail("chmod");
  if (!settings.group.empty()) {
    group* g = ::getgrnam(settings.group.c_str());
    if (!g) {
      ::close(fd);
      return path + ": unknown group '" + settings.group + "'";
    }
    if (::chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) return fail("chown");
  }
  if (type == SOCK_STREAM && ::listen(fd, 1024) != 0) return fail("listen");
  if (type == SOCK_DGRAM) {
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  }
  return fd;
}

int peer_pid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
  return cred.pid;
}

}  // namespace sidelight::intake
