// The sys stage holds what every other stage asks of the operating system where a hostile file,
// directory or peer could hurt the agent: reading a file that may be a FIFO, a device or endless
// (this header), creating a Unix socket in a directory others may write to (unix_socket.hpp), and
// logging about such things without flooding (log_limiter.hpp). It depends on nothing else in
// sidelight, so that config, watch, intake, export and admin all use the same careful code.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace sidelight::sys {

// Why a file was not read; `ok` when it was.
enum class file_status {
  ok,
  missing,      // no such file (or a path component is missing)
  denied,       // no permission, or a link where none is allowed (O_NOFOLLOW)
  not_regular,  // a FIFO, a directory, a device or a socket: never opened for reading
  too_large,    // more than the limit, with overflow::refuse
  failed,       // another error
};

enum class overflow {
  refuse,    // more than max_bytes is an error (a pidfile, a config file)
  truncate,  // keep the first max_bytes (a process's command line)
};

struct read_limits {
  std::size_t max_bytes = 64 * 1024;
  overflow on_overflow = overflow::refuse;
  bool follow_links = true;  // false: a symbolic link as the last component is refused
};

struct file_read {
  file_status status = file_status::failed;
  std::string text;                   // what was read, when ok
  int error = 0;                      // errno behind missing, denied and failed
  mode_t type = 0;                    // S_IFMT bits of what the path named, when known
  std::int64_t modified_unix_ns = 0;  // the file's mtime, when it was opened
  bool ok() const { return status == file_status::ok; }
};

// Reads a whole small file without ever blocking or reading without bound. The path is first
// opened with O_PATH, which opens nothing (a FIFO does not wait for a writer, a device's driver is
// not called), and checked with fstat; only a regular file is then opened for reading, through
// that same descriptor (so it cannot be swapped meanwhile), with O_NONBLOCK, and at most
// max_bytes + 1 bytes are read. Safe to call from the event loop for files in /proc and /sys,
// pidfiles, configuration and certificate files.
file_read read_file(const std::string& path, const read_limits& limits);

// Opens a regular file for appending, creating it (with `mode`) if it does not exist, by the same
// rule: anything but a regular file is refused without being opened. A descriptor, or -1 with
// `why` saying what was wrong.
int open_append(const std::string& path, mode_t mode, std::string& why);

// "is a FIFO (named pipe), not a regular file", "does not exist", "is larger than 64 bytes", …:
// the end of a sentence that starts with the path.
std::string describe(const file_read& r, const read_limits& limits);

// What a file type (S_IFMT bits) is called in a message: "a FIFO (named pipe)", "a directory", …
std::string type_name(mode_t type);

}  // namespace sidelight::sys
