#include "sys/bounded_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sidelight::sys {
namespace {

file_status status_of_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return file_status::missing;
    case EACCES:
    case EPERM:
    case ELOOP:
      return file_status::denied;
    default:
      return file_status::failed;
  }
}

// Opens what an O_PATH descriptor names, for real. Through /proc/self/fd the very inode that was
// checked is opened, whatever happened to the path since. Without /proc (never the case where
// sidelight runs, but cheap to handle), the path is opened again non-blocking and must still name
// the same inode.
int reopen(int path_fd, const std::string& path, const struct stat& checked, int flags) {
  flags |= O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  char proc[48];
  std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", path_fd);
  int fd = ::open(proc, flags);
  if (fd >= 0 || errno != ENOENT) return fd;
  fd = ::open(path.c_str(), flags | O_NOFOLLOW);
  struct stat now {};
  if (fd >= 0 &&
      (::fstat(fd, &now) != 0 || now.st_dev != checked.st_dev || now.st_ino != checked.st_ino)) {
    ::close(fd);
    errno = ESTALE;
    return -1;
  }
  return fd;
}

// The O_PATH descriptor of `path` and what it is; -1 with the status set when it cannot be had.
int open_path(const std::string& path, bool follow_links, struct stat& st, file_read& r) {
  int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC | (follow_links ? 0 : O_NOFOLLOW));
  if (fd < 0) {
    r.error = errno;
    r.status = status_of_errno(errno);
    return -1;
  }
  if (::fstat(fd, &st) != 0) {
    r.error = errno;
    r.status = file_status::failed;
    ::close(fd);
    return -1;
  }
  r.type = st.st_mode & S_IFMT;
  r.modified_unix_ns =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (S_ISLNK(st.st_mode)) {  // only with O_NOFOLLOW: the link itself was opened
    r.error = ELOOP;
    r.status = file_status::denied;
  } else if (!S_ISREG(st.st_mode)) {
    r.status = file_status::not_regular;
  } else {
    return fd;
  }
  ::close(fd);
  return -1;
}

}  // namespace

file_read read_file(const std::string& path, const read_limits& limits) {
  file_read r;
  struct stat st {};
  int path_fd = open_path(path, limits.follow_links, st, r);
  if (path_fd < 0) return r;
  // /proc and /sys files say 0 here; a large regular file is refused before reading it.
  if (limits.on_overflow == overflow::refuse &&
      static_cast<std::uint64_t>(st.st_size) > static_cast<std::uint64_t>(limits.max_bytes)) {
    ::close(path_fd);
    r.status = file_status::too_large;
    return r;
  }
  int fd = reopen(path_fd, path, st, O_RDONLY);
  int open_error = errno;
  ::close(path_fd);
  if (fd < 0) {
    r.error = open_error;
    r.status = status_of_errno(open_error);
    return r;
  }
  // One byte more than allowed tells a file that is too long from one that fits exactly.
  const std::size_t want = limits.max_bytes + 1;
  char buf[4096];
  r.status = file_status::ok;
  while (r.text.size() < want) {
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, want - r.text.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.error = errno;
      r.status = file_status::failed;
      break;
    }
    if (n == 0) break;
    r.text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (r.ok() && r.text.size() > limits.max_bytes) {
    if (limits.on_overflow == overflow::truncate) {
      r.text.resize(limits.max_bytes);
    } else {
      r.status = file_status::too_large;
    }
  }
  if (!r.ok()) r.text.clear();
  return r;
}

int open_append(const std::string& path, mode_t mode, std::string& why) {
  // Twice at most: the file may be created by someone else between the two steps.
  for (int attempt = 0; attempt < 2; ++attempt) {
    file_read r;
    struct stat st {};
    int path_fd = open_path(path, true, st, r);
    if (path_fd >= 0) {
      int fd = reopen(path_fd, path, st, O_WRONLY | O_APPEND);
      int err = errno;
      ::close(path_fd);
      if (fd < 0) why = std::string("cannot be opened: ") + std::strerror(err);
      return fd;
    }
    if (r.status != file_status::missing) {
      why = describe(r, {});
      return -1;
    }
    // A new file: O_EXCL creates a regular file or fails, and never follows a link.
    int fd =
        ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
    if (fd >= 0) return fd;
    if (errno != EEXIST) {
      why = std::string("cannot be created: ") + std::strerror(errno);
      return -1;
    }
  }
  why = "keeps changing while it is opened";
  return -1;
}

std::string type_name(mode_t type) {
  switch (type & S_IFMT) {
    case S_IFIFO:
      return "a FIFO (named pipe)";
    case S_IFDIR:
      return "a directory";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFSOCK:
      return "a socket";
    case S_IFLNK:
      return "a symbolic link";
    case S_IFREG:
      return "a regular file";
    default:
      return "not a regular file";
  }
}

std::string describe(const file_read& r, const read_limits& limits) {
  switch (r.status) {
    case file_status::ok:
      return "was read";
    case file_status::missing:
      return "does not exist";
    case file_status::denied:
      if (r.error == ELOOP) return "is a symbolic link, which is not followed here";
      return std::string("cannot be read: ") + std::strerror(r.error);
    case file_status::not_regular:
      return "is " + type_name(r.type) + ", not a regular file";
    case file_status::too_large:
      return "is larger than " + std::to_string(limits.max_bytes) + " bytes";
    case file_status::failed:
      break;
  }
  return std::string("cannot be read: ") + std::strerror(r.error);
}

}  // namespace sidelight::sys
