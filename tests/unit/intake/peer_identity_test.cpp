// The sender of client data is the process that connected, fixed at accept: PID and start time.
// A recycled PID cannot be forced here; the matching is checked through the policy with the
// start times a recycled PID would bring, and the capture with real processes.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

#include "intake/intake.hpp"
#include "intake/socket_setup.hpp"

using namespace sidelight;
using intake::peer_identity;

namespace {

intake::intake_policy::resource named(const std::string& service) {
  intake::intake_policy::resource r;
  auto* kv = r.add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value(service);
  return r;
}

std::string service_of(const intake::intake_policy::origin& o) {
  return o.additions->attributes_size() > 0 ? o.additions->attributes(0).value().string_value()
                                            : "";
}

// A child that connects to `path` and then waits for SIGKILL (or exits at once with `leave`).
pid_t connecting_child(const std::string& path, bool leave) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(1);
    if (leave) ::_exit(0);
    ::pause();
    ::_exit(0);
  }
  return pid;
}

}  // namespace

TEST_CASE("a sender is a watched instance only when its PID and start time both match",
          "[intake][identity]") {
  intake::intake_policy policy;
  policy.set_common(named("common"));
  policy.set_instance({4242, 1000}, named("payments-api"));

  auto same = policy.lookup({4242, 1000});
  CHECK(same.watched);
  CHECK(service_of(same) == "payments-api");

  // The process that connected under PID 4242 started at 900 and is gone; payments-api took the
  // PID later. What the old sender's socket carries is not payments-api's.
  auto recycled = policy.lookup({4242, 900});
  CHECK_FALSE(recycled.watched);
  CHECK(service_of(recycled) == "common");
  CHECK_FALSE(policy.lookup({0, 0}).watched);  // unknown: TCP, or gone at accept

  // The report that an older process under the PID is gone does not forget the newer one.
  policy.erase_instance({4242, 900});
  CHECK(policy.lookup({4242, 1000}).watched);
  policy.erase_instance({4242, 1000});
  CHECK_FALSE(policy.lookup({4242, 1000}).watched);
}

TEST_CASE("identify_peer fixes the connecting process at accept, and one already gone is unknown",
          "[intake][identity]") {
  char pattern[] = "/tmp/sidelight-peer.XXXXXX";
  REQUIRE(::mkdtemp(pattern));
  std::string dir = pattern;
  auto path = dir + "/s.sock";
  auto bound = intake::bind_unix_socket(path, SOCK_STREAM, {});
  REQUIRE(std::holds_alternative<sys::bound_socket>(bound));
  int listener = std::get<sys::bound_socket>(bound).fd;
  auto accept_one = [&] {
    for (int i = 0; i < 500; ++i) {  // the listener is non-blocking; the child connects soon
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) return fd;
      ::usleep(10'000);
    }
    return -1;
  };

  pid_t alive = connecting_child(path, false);
  int fd = accept_one();
  REQUIRE(fd >= 0);
  auto id = intake::identify_peer(fd);
  CHECK(id.pid == alive);
  auto st = watch::read_stat(alive);
  REQUIRE(st);
  CHECK(id.start_ticks == st->start_ticks);
  ::close(fd);
  ::kill(alive, SIGKILL);
  ::waitpid(alive, nullptr, 0);

  // Connected, then exited (and reaped) before the accept: its PID names nobody, or someone else.
  pid_t gone = connecting_child(path, true);
  ::waitpid(gone, nullptr, 0);
  fd = accept_one();
  REQUIRE(fd >= 0);
  CHECK(intake::identify_peer(fd).pid == 0);
  ::close(fd);
  ::close(listener);
  std::filesystem::remove_all(dir);
}
