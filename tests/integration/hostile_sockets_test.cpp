// Local peers that attack the sockets: another user swapping the socket's path for a symbolic
// link while the agent starts, and a sender whose PID a watched service takes over after it
// connected.
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <thread>

#include "support/harness.hpp"
#include "support/intake_client.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct file_facts {
  mode_t mode = 0;
  gid_t group = 0;
  bool operator==(const file_facts&) const = default;
};

std::ostream& operator<<(std::ostream& out, const file_facts& f) {
  return out << "mode " << std::oct << f.mode << std::dec << ", group " << f.group;
}

file_facts facts_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return {st.st_mode & 07777, st.st_gid};
}

// A root-owned 0640 file, as the finding's victim was.
std::string make_victim(const temp_dir& dir) {
  auto victim = dir / "victim";
  write_file(victim, "secret\n");
  REQUIRE(::chmod(victim.c_str(), 0640) == 0);
  return victim;
}

// A directory for the socket, with `mode` (set after mkdir, which the umask would cut).
std::string socket_directory(const temp_dir& dir, const std::string& name, mode_t mode) {
  auto path = dir / name;
  fs::create_directory(path);
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path;
}

// A group the victim is not in, for the listener's `group:`.
std::string other_group() {
  group* g = ::getgrnam("daemon");
  return g ? "daemon" : "";
}

std::string listener_yaml(const std::string& socket, const std::string& group) {
  return "exporters: { console: {} }\nadmin: { listen: '' }\nintake:\n  ndjson: { unix: " + socket +
         ", mode: \"0666\"" + (group.empty() ? "" : ", group: " + group) + " }\n";
}

// As soon as a socket appears at `socket`, renames a symbolic link to `victim` over it (made
// beforehand, so that the swap is one system call): the attack that beat chmod/chown on the path.
class symlink_swapper {
 public:
  symlink_swapper(std::string socket, std::string victim)
      : thread_([this, socket = std::move(socket), victim = std::move(victim)] {
          auto link = socket + ".swap";
          ::symlink(victim.c_str(), link.c_str());
          while (!stop_) {
            struct stat st {};
            if (::lstat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
                ::rename(link.c_str(), socket.c_str()) == 0) {
              ::symlink(victim.c_str(), link.c_str());
            }
          }
        }) {}
  ~symlink_swapper() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE(
    "hostile sockets: a socket directory others can write to is refused, and a symlink race never "
    "reaches the victim",
    "[hostile][sockets]") {
  temp_dir dir;
  auto victim = make_victim(dir);
  auto before = facts_of(victim);
  auto open = socket_directory(dir, "open", 0777);
  auto socket = open + "/ndjson.sock";
  auto config = dir / "sidelight.yaml";
  write_file(config, listener_yaml(socket, other_group()));
  {
    symlink_swapper attacker(socket, victim);
    for (int i = 0; i < 10; ++i) {
      auto out = dir / ("run-" + std::to_string(i) + ".log");
      child a({sidelight_binary(), "run", "--config", config}, out);
      int status = a.wait(bound(1s));  // it must refuse to start at once, not run
      if (status == -1) a.kill(SIGKILL);
      INFO("run " << i << ":\n" << read_file(out));
      REQUIRE(facts_of(victim) == before);
      CHECK(status != -1);
      CHECK(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 2);
      CHECK(read_file(out).find(open + ": the socket directory (mode 0777) is writable by group "
                                       "or others") != std::string::npos);
    }
  }
  // The admin socket is created the same way.
  write_file(config,
             "exporters: { console: {} }\nadmin: { listen: 'unix:" + open + "/admin.sock' }\n");
  auto r = run_cli(dir, {"run", "--config", config});
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("cannot start: admin: cannot listen on unix:" + open + "/admin.sock: " +
                      open + ": the socket directory (mode 0777)") != std::string::npos);
  CHECK(facts_of(victim) == before);
}

TEST_CASE(
    "hostile sockets: in a sticky directory another user cannot make the agent touch their link",
    "[hostile][sockets]") {
  if (::geteuid() != 0) {
    WARN("skipped: needs root, to play another user");
    return;
  }
  temp_dir dir;
  REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);  // the other user must reach the directory
  auto victim = make_victim(dir);
  auto before = facts_of(victim);
  auto socket = socket_directory(dir, "tmp", 01777) + "/ndjson.sock";
  auto group = other_group();
  auto config = dir / "sidelight.yaml";
  write_file(config, listener_yaml(socket, group));

  // The other user (nobody) keeps putting a link to the victim at the socket's name, and tries to
  // swap one in for the socket whenever there is one.
  pid_t attacker = ::fork();
  if (attacker == 0) {
    if (::syscall(SYS_setresgid, 65534, 65534, 65534) != 0 ||
        ::syscall(SYS_setresuid, 65534, 65534, 65534) != 0) {
      ::_exit(1);
    }
    auto tmp = socket + ".swap";
    for (;;) {
      ::symlink(victim.c_str(), tmp.c_str());
      ::rename(tmp.c_str(), socket.c_str());
      ::unlink(socket.c_str());
    }
  }
  int started = 0;
  for (int i = 0; i < 20; ++i) {
    auto out = dir / ("run-" + std::to_string(i) + ".log");
    child a({sidelight_binary(), "run", "--config", config}, out);
    auto deadline = std::chrono::steady_clock::now() + bound(3s);
    int status = -1;
    while (std::chrono::steady_clock::now() < deadline &&
           read_file(out).find("intake: NDJSON on") == std::string::npos &&
           (status = a.wait(10ms)) == -1) {
    }
    INFO("run " << i << ":\n" << read_file(out));
    REQUIRE(facts_of(victim) == before);
    if (status != -1) {  // refused: the name was taken by the other user's link at the check
      CHECK(read_file(out).find("exists and is not a socket") != std::string::npos);
      continue;
    }
    REQUIRE(read_file(out).find("intake: NDJSON on") != std::string::npos);
    ++started;
    struct stat st {};
    REQUIRE(::lstat(socket.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0666);
    if (!group.empty()) CHECK(st.st_gid == ::getgrnam(group.c_str())->gr_gid);
    int client = connect_unix(socket);
    CHECK(client >= 0);
    if (client >= 0) ::close(client);
    a.kill(SIGTERM);
    CHECK(a.wait(bound(5s)) == 0);
  }
  ::kill(attacker, SIGKILL);
  ::waitpid(attacker, nullptr, 0);
  CHECK(facts_of(victim) == before);
  CHECK(started > 0);
}

namespace {

// What a forked child may do in a multi-threaded test: raw system calls only.
int connect_raw(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  return fd;
}

// Blocks until the test writes a byte (go) or closes the pipe (stop); true for go.
bool wait_for_go(int fd) {
  char c;
  return ::read(fd, &c, 1) == 1;
}

void write_all(int fd, const std::string& text) {
  std::size_t off = 0;
  while (off < text.size()) {
    auto n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

// A forked process under `name` that, when told, connects to `socket` and sends `line`, then
// waits to be killed.
pid_t sender(const std::string& name, const std::string& socket, const std::string& line, int go) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_NAME, name.c_str());
    if (!wait_for_go(go)) ::_exit(0);
    int fd = connect_raw(socket);
    write_all(fd, line);
    ::close(fd);
    ::pause();
    ::_exit(0);
  }
  return pid;
}

std::uint64_t start_ticks_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
  }
  return std::stoull(field);  // field 22: start time in clock ticks after boot
}

// Returns once the clock (in ticks after boot, as /proc counts start times) is past `ticks`.
void await_tick_after(std::uint64_t ticks) {
  auto per_second = static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
  for (int i = 0; i < 100; ++i) {
    timespec now{};
    ::clock_gettime(CLOCK_BOOTTIME, &now);
    auto current = static_cast<std::uint64_t>(now.tv_sec) * per_second +
                   static_cast<std::uint64_t>(now.tv_nsec) * per_second / 1'000'000'000;
    if (current > ticks) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1000 / per_second));
  }
  FAIL("the clock did not pass tick " << ticks);
}

const telemetry_record* log_named(const std::vector<telemetry_record>& logs,
                                  const std::string& body) {
  for (const auto& l : logs)
    if (l.name == body) return &l;
  return nullptr;
}

}  // namespace

TEST_CASE(
    "hostile sockets: a sender's identity is fixed at connect, and a watched service that later "
    "gets "
    "its PID lends it nothing",
    "[hostile][sockets][identity]") {
  if (::access("/proc/sys/kernel/ns_last_pid", W_OK) != 0) {
    WARN("skipped: /proc/sys/kernel/ns_last_pid is not writable here (needs CAP_SYS_ADMIN)");
    return;
  }
  temp_dir dir;
  otlp_receiver up;
  auto ndjson = dir / "ndjson.sock";
  agent a(dir,
          "heartbeat: { interval: 60s, discovery_interval: 100ms }\n"
          "batch: { timeout: 20ms }\n"
          "intake:\n  ndjson: { unix: " +
              ndjson +
              " }\n"
              "exporters:\n  otlp: { endpoint: " +
              up.endpoint() +
              ", compression: none }\n"
              "targets:\n  - name: payments-api\n    process: { comm: sl-payments }\n");
  REQUIRE(a.wait_for_log("intake: NDJSON on", bound(5s)));

  // A connects, hands its connection to its child C, and exits.
  int child_go[2];
  REQUIRE(::pipe(child_go) == 0);
  std::string child_line = "{\"message\":\"from the child\",\"service\":\"child-svc\"}\n";
  pid_t first = ::fork();
  if (first == 0) {
    int fd = connect_raw(ndjson);
    if (fd < 0) ::_exit(1);
    if (::fork() == 0) {  // C: keeps the connection, writes when told
      if (wait_for_go(child_go[0])) write_all(fd, child_line);
      ::_exit(0);
    }
    ::_exit(0);
  }
  // Its start time, read before it is reaped (a zombie keeps it). A PID and a start time tell
  // processes apart to the clock tick (10 ms): payments-api must start in a later tick, as it
  // always does when a PID comes round again without ns_last_pid's help.
  auto started = start_ticks_of(first);
  int status = 0;
  REQUIRE(::waitpid(first, &status, 0) == first);
  await_tick_after(started);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  ::close(child_go[0]);

  // payments-api, a watched target, now takes A's PID.
  int service_go[2];
  REQUIRE(::pipe(service_go) == 0);
  std::string service_line = "{\"message\":\"from payments\",\"service\":\"ignored\"}\n";
  pid_t service = -1;
  for (int attempt = 0; attempt < 20 && service != first; ++attempt) {
    if (service > 0) {
      ::kill(service, SIGKILL);
      ::waitpid(service, nullptr, 0);
    }
    std::ofstream("/proc/sys/kernel/ns_last_pid") << first - 1 << std::flush;
    service = sender("sl-payments", ndjson, service_line, service_go[0]);
  }
  ::close(service_go[0]);
  struct reap {
    pid_t pid;
    ~reap() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{service};
  if (service != first) {
    ::close(child_go[1]);
    ::close(service_go[1]);
    WARN("skipped: could not get PID " << first << " reused (another process took it)");
    return;
  }
  auto beat = up.wait_for(
      [&](const point& p) {
        return heartbeat_of("payments-api", 1)(p) &&
               p.resource.at("process.pid") == std::to_string(service);
      },
      bound(5s));
  REQUIRE(beat);
  auto instance_id = beat->resource.at("service.instance.id");

  // C writes on A's connection: it is not payments-api, whatever its PID now names.
  REQUIRE(::write(child_go[1], "g", 1) == 1);
  ::close(child_go[1]);
  INFO("agent log:\n" << a.log());
  REQUIRE(up.wait_logs(1, bound(5s)));
  // And payments-api itself, connecting now, is.
  REQUIRE(::write(service_go[1], "g", 1) == 1);
  ::close(service_go[1]);
  REQUIRE(up.wait_logs(2, bound(5s)));

  auto logs = up.logs();
  auto* from_child = log_named(logs, "from the child");
  auto* from_service = log_named(logs, "from payments");
  REQUIRE(from_child);
  REQUIRE(from_service);
  CHECK(from_child->resource.at("service.name") == "child-svc");
  CHECK(from_child->resource.count("service.instance.id") == 0);
  CHECK(from_child->resource.count("process.pid") == 0);
  CHECK(from_service->resource.at("service.name") == "payments-api");
  CHECK(from_service->resource.at("service.instance.id") == instance_id);
  CHECK(a.running());
}

TEST_CASE("hostile sockets: at a stop, what took a socket's path since is left alone",
          "[hostile][sockets]") {
  temp_dir dir;
  auto ndjson = dir / "ndjson.sock";
  auto admin = dir / "admin.sock";
  agent a(dir, "exporters: { console: {} }\nadmin: { listen: 'unix:" + admin +
                   "' }\nintake:\n  ndjson: { unix: " + ndjson + " }\n");
  REQUIRE(a.wait_for_log("intake: NDJSON on", bound(5s)));
  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  // Someone else's file now has the NDJSON socket's name; the admin socket is still the agent's.
  write_file(dir / "other", "not sidelight's\n");
  REQUIRE(::rename((dir / "other").c_str(), ndjson.c_str()) == 0);
  a.signal(SIGTERM);
  REQUIRE(a.wait(bound(5s)) == 0);
  CHECK(read_file(ndjson) == "not sidelight's\n");
  CHECK_FALSE(fs::exists(admin));  // its own socket it removes
}
