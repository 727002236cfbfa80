// sys: files read without blocking or without bound, sockets created without following links.
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "sys/bounded_file.hpp"
#include "sys/unix_socket.hpp"

using namespace sidelight::sys;
namespace fs = std::filesystem;

namespace {

struct scratch {
  scratch() {
    std::string pattern = (fs::temp_directory_path() / "sidelight-sys.XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()));
    path = pattern;
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
  fs::path path;
};

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode;
}

// Any group this process is not in by default, to see a group applied; 0 when there is none.
gid_t other_group() {
  for (const char* name : {"daemon", "nogroup", "adm", "users"}) {
    if (group* g = ::getgrnam(name); g && g->gr_gid != ::getegid()) return g->gr_gid;
  }
  return 0;
}

}  // namespace

TEST_CASE("read_file reads a regular file whole, within its bound", "[sys]") {
  scratch dir;
  write(dir / "pid", "4242\n");
  auto r = read_file(dir / "pid", {64});
  CHECK(r.ok());
  CHECK(r.text == "4242\n");
  CHECK(r.modified_unix_ns > 0);

  write(dir / "big", std::string(65, '1'));
  auto big = read_file(dir / "big", {64});
  CHECK(big.status == file_status::too_large);
  CHECK(big.text.empty());
  CHECK(describe(big, {64}) == "is larger than 64 bytes");
  auto cut = read_file(dir / "big", {64, overflow::truncate});
  CHECK(cut.ok());
  CHECK(cut.text.size() == 64);
  // /proc files have no size: the bound holds while reading.
  auto cmdline = read_file("/proc/self/cmdline", {4, overflow::truncate});
  CHECK(cmdline.ok());
  CHECK(cmdline.text.size() <= 4);
  CHECK(read_file("/proc/self/stat", {4, overflow::refuse}).status == file_status::too_large);

  auto missing = read_file(dir / "none", {64});
  CHECK(missing.status == file_status::missing);
  CHECK(describe(missing, {64}) == "does not exist");
}

TEST_CASE("read_file never opens a FIFO, a directory or a device, and never waits", "[sys]") {
  scratch dir;
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  // Opened for reading without O_NONBLOCK, a FIFO with no writer would block this test forever.
  auto fifo = read_file(dir / "fifo", {64});
  CHECK(fifo.status == file_status::not_regular);
  CHECK(describe(fifo, {64}) == "is a FIFO (named pipe), not a regular file");

  CHECK(read_file(dir.path.string(), {64}).status == file_status::not_regular);
  // A link to an endless device: followed, and refused for what it names.
  fs::create_symlink("/dev/zero", dir / "zero");
  auto zero = read_file(dir / "zero", {64});
  CHECK(zero.status == file_status::not_regular);
  CHECK(describe(zero, {64}) == "is a character device, not a regular file");

  // Where no link is expected, none is followed.
  write(dir / "real", "1\n");
  fs::create_symlink(dir / "real", dir / "link");
  CHECK(read_file(dir / "link", {64}).ok());
  auto link = read_file(dir / "link", {64, overflow::refuse, false});
  CHECK(link.status == file_status::denied);
  CHECK(describe(link, {64}) == "is a symbolic link, which is not followed here");
}

TEST_CASE("open_append creates or appends to a regular file and refuses anything else", "[sys]") {
  scratch dir;
  std::string why;
  int fd = open_append(dir / "out.jsonl", 0640, why);
  REQUIRE(fd >= 0);
  CHECK(::write(fd, "a\n", 2) == 2);
  ::close(fd);
  fd = open_append(dir / "out.jsonl", 0640, why);
  REQUIRE(fd >= 0);
  CHECK(::write(fd, "b\n", 2) == 2);
  ::close(fd);
  CHECK(read_file(dir / "out.jsonl", {64}).text == "a\nb\n");
  CHECK((mode_of(dir / "out.jsonl") & 0777) == 0640);

  // Opened for writing, a FIFO with no reader would block.
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  CHECK(open_append(dir / "fifo", 0640, why) == -1);
  CHECK(why == "is a FIFO (named pipe), not a regular file");
  CHECK(open_append("/dev/null", 0640, why) == -1);
  CHECK(why == "is a character device, not a regular file");
}

TEST_CASE("a Unix socket gets its mode and group before it appears at its path", "[sys]") {
  scratch dir;
  REQUIRE(::chmod(dir.path.c_str(), 0755) == 0);
  unix_socket_options o;
  o.mode = 0660;
  gid_t group = other_group();
  if (group != 0) o.group = std::to_string(group);
  auto path = dir / "run/otlp.sock";  // its directory is created, 0755
  auto bound = bind_unix_socket(path, o);
  REQUIRE(std::holds_alternative<bound_socket>(bound));
  CHECK(S_ISSOCK(mode_of(path)));
  CHECK((mode_of(path) & 07777) == 0660);
  CHECK((mode_of(dir / "run") & 07777) == 0755);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  if (group != 0) CHECK(st.st_gid == group);
  // Nothing is left of the private directory it was made in.
  CHECK(std::distance(fs::directory_iterator(dir / "run"), fs::directory_iterator()) == 1);

  // Still served: a second one is refused; closed, it is stale and replaced.
  auto again = bind_unix_socket(path, o);
  REQUIRE(std::holds_alternative<std::string>(again));
  CHECK(std::get<std::string>(again) == path + ": in use by another process");
  ::close(std::get<bound_socket>(bound).fd);
  auto replaced = bind_unix_socket(path, o);
  REQUIRE(std::holds_alternative<bound_socket>(replaced));
  ::close(std::get<bound_socket>(replaced).fd);

  // A path that is not a socket is never replaced.
  write(dir / "file", "keep me");
  auto file = bind_unix_socket(dir / "file", o);
  REQUIRE(std::holds_alternative<std::string>(file));
  CHECK(std::get<std::string>(file) ==
        dir / "file" + ": exists and is not a socket; refusing to replace it");
  fs::create_symlink(dir / "file", dir / "link.sock");
  CHECK(std::holds_alternative<std::string>(bind_unix_socket(dir / "link.sock", o)));
  CHECK(read_file(dir / "file", {64}).text == "keep me");
}

TEST_CASE("a socket directory others could write to, or owned by another user, is refused",
          "[sys]") {
  scratch dir;
  unix_socket_options o;
  REQUIRE(::mkdir((dir / "open").c_str(), 0755) == 0);
  REQUIRE(::chmod((dir / "open").c_str(), 0777) == 0);
  auto open = bind_unix_socket(dir / "open/s.sock", o);
  REQUIRE(std::holds_alternative<std::string>(open));
  CHECK(std::get<std::string>(open).find("(mode 0777) is writable by group or others") !=
        std::string::npos);
  REQUIRE(::chmod((dir / "open").c_str(), 0775) == 0);
  CHECK(std::holds_alternative<std::string>(bind_unix_socket(dir / "open/s.sock", o)));

  // Sticky, like /tmp: nobody can rename or remove another's entry there.
  REQUIRE(::chmod((dir / "open").c_str(), 01777) == 0);
  auto sticky = bind_unix_socket(dir / "open/s.sock", o);
  REQUIRE(std::holds_alternative<bound_socket>(sticky));
  ::close(std::get<bound_socket>(sticky).fd);

  if (::geteuid() == 0) {  // only root can give a directory away
    REQUIRE(::mkdir((dir / "theirs").c_str(), 0755) == 0);
    REQUIRE(::chown((dir / "theirs").c_str(), 65534, 65534) == 0);
    auto theirs = bind_unix_socket(dir / "theirs/s.sock", o);
    REQUIRE(std::holds_alternative<std::string>(theirs));
    CHECK(std::get<std::string>(theirs).find("is owned by uid 65534") != std::string::npos);
  }
}

TEST_CASE("a socket path longer than its private directory allows is bound all the same", "[sys]") {
  scratch dir;
  // 100 characters in all: the private directory's path would not fit in sun_path (108).
  auto deep = dir.path / std::string(100 - dir.path.string().size() - 8, 'd');
  auto path = (deep / "x.sock").string();
  REQUIRE(path.size() == 100);
  auto bound = bind_unix_socket(path, {});
  REQUIRE(std::holds_alternative<bound_socket>(bound));
  CHECK(S_ISSOCK(mode_of(path)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int client = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(client);
  ::close(std::get<bound_socket>(bound).fd);
}

TEST_CASE("a socket's file is removed at a stop only while it is still the one bound", "[sys]") {
  scratch dir;
  auto path = dir / "s.sock";
  auto first = bind_unix_socket(path, {});
  REQUIRE(std::holds_alternative<bound_socket>(first));
  auto mine = std::get<bound_socket>(first);
  ::close(mine.fd);
  // A new socket took the path (another agent, once the first was stale): not ours to remove.
  auto second = bind_unix_socket(path, {});
  REQUIRE(std::holds_alternative<bound_socket>(second));
  remove_socket_file(mine.file);
  CHECK(S_ISSOCK(mode_of(path)));
  // Nor is a file renamed over it.
  auto theirs = std::get<bound_socket>(second);
  write(dir / "file", "keep me");
  REQUIRE(::rename((dir / "file").c_str(), path.c_str()) == 0);
  remove_socket_file(theirs.file);
  CHECK(read_file(path, {64}).text == "keep me");
  ::close(theirs.fd);
  // Its own socket, still in place, it removes.
  auto third = bind_unix_socket(dir / "t.sock", {});
  REQUIRE(std::holds_alternative<bound_socket>(third));
  remove_socket_file(std::get<bound_socket>(third).file);
  CHECK_FALSE(fs::exists(dir / "t.sock"));
  ::close(std::get<bound_socket>(third).fd);
}
