// How an end is told: raw proc connector datagrams as the kernel lays them out, wait statuses,
// and /proc/PID/stat's exit_code of a real zombie.
#include "watch/exit_reason.hpp"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

using namespace sidelight::watch;

namespace {

// One netlink message carrying one proc_event, as the connector sends it.
std::string message(const proc_event& ev) {
  std::string out(NLMSG_SPACE(sizeof(cn_msg) + sizeof(proc_event)), '\0');
  nlmsghdr h{};
  h.nlmsg_len = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_event));
  h.nlmsg_type = NLMSG_DONE;
  cn_msg msg{};
  msg.id.idx = CN_IDX_PROC;
  msg.id.val = CN_VAL_PROC;
  msg.len = sizeof(proc_event);
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + NLMSG_HDRLEN, &msg, sizeof msg);
  std::memcpy(out.data() + NLMSG_HDRLEN + sizeof msg, &ev, sizeof ev);
  return out;
}

proc_event exit_event(pid_t pid, pid_t tgid, std::uint32_t status) {
  proc_event ev{};
  ev.what = proc_event::PROC_EVENT_EXIT;
  ev.event_data.exit.process_pid = pid;
  ev.event_data.exit.process_tgid = tgid;
  ev.event_data.exit.exit_code = status;
  ev.event_data.exit.exit_signal = SIGCHLD;
  return ev;
}

proc_event fork_event(pid_t child_pid, pid_t child_tgid) {
  proc_event ev{};
  ev.what = proc_event::PROC_EVENT_FORK;
  ev.event_data.fork.child_pid = child_pid;
  ev.event_data.fork.child_tgid = child_tgid;
  return ev;
}

exit_info status(int wait_status, bool oom = false) {
  exit_info e;
  e.known = true;
  e.wait_status = wait_status;
  e.oom_kill = oom;
  return e;
}

}  // namespace

TEST_CASE("proc connector: exit events of processes carry the wait status", "[exit]") {
  // exit(3) is 3 << 8; SIGKILL is 9; SIGSEGV with a core is 11 | 0x80.
  auto datagram = message(exit_event(100, 100, 3 << 8)) + message(exit_event(101, 100, 9)) +
                  message(fork_event(102, 102)) + message(fork_event(103, 102)) +
                  message(exit_event(104, 104, 11 | 0x80));
  auto events = decode_proc_events(datagram.data(), datagram.size());
  REQUIRE(events.size() == 3);  // the thread's exit and the thread's fork are left out
  CHECK(events[0].what == proc_event_record::kind::exit);
  CHECK(events[0].pid == 100);
  CHECK(events[0].wait_status == (3u << 8));
  CHECK(events[1].what == proc_event_record::kind::fork);
  CHECK(events[1].pid == 102);
  CHECK(events[2].pid == 104);
  CHECK(events[2].wait_status == (11u | 0x80u));
}

TEST_CASE("proc connector: truncated, oversized and foreign messages are skipped", "[exit]") {
  auto whole = message(exit_event(100, 100, 0));
  for (std::size_t cut = 0; cut < whole.size(); ++cut)
    CHECK(decode_proc_events(whole.data(), cut).empty());

  auto lying = whole;  // a length beyond what was received
  nlmsghdr h;
  std::memcpy(&h, lying.data(), sizeof h);
  h.nlmsg_len = 1 << 20;
  std::memcpy(lying.data(), &h, sizeof h);
  CHECK(decode_proc_events(lying.data(), lying.size()).empty());

  auto foreign = whole;  // another connector's message
  cn_msg msg;
  std::memcpy(&msg, foreign.data() + NLMSG_HDRLEN, sizeof msg);
  msg.id.idx = CN_IDX_PROC + 1;
  std::memcpy(foreign.data() + NLMSG_HDRLEN, &msg, sizeof msg);
  CHECK(decode_proc_events(foreign.data(), foreign.size()).empty());

  // Unaligned input is read all the same.
  std::string shifted = "x" + whole;
  CHECK(decode_proc_events(shifted.data() + 1, whole.size()).size() == 1);
}

TEST_CASE("wait statuses become service.down.reason and one line", "[exit]") {
  CHECK(status(3 << 8).down_reason() == "exited");
  CHECK(status(3 << 8).describe() == "exit code 3");
  CHECK(*status(0).exit_code() == 0);
  CHECK(status(SIGKILL).down_reason() == "signaled");
  CHECK(status(SIGKILL).describe() == "killed by SIGKILL");
  CHECK(status(SIGKILL, true).down_reason() == "oom_killed");
  CHECK(status(SIGKILL, true).describe() == "killed by SIGKILL (OOM)");
  CHECK(status(SIGSEGV | 0x80).describe() == "killed by SIGSEGV (core dumped)");
  CHECK(status(SIGSEGV | 0x80).core_dumped());
  CHECK(exit_info{}.down_reason() == "unknown");
  CHECK(exit_info{}.describe() == "unknown");
  CHECK(signal_name(SIGTERM) == "SIGTERM");
}

TEST_CASE("/proc/PID/stat: exit_code (field 52) of a real zombie", "[exit]") {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(7);
  // Not reaped yet: a zombie until waitpid below. Await it, bounded.
  std::optional<process_stat> st;
  for (int i = 0; i < 500 && !(st && st->zombie()); ++i) {
    st = read_stat(pid);
    if (!(st && st->zombie())) ::usleep(2000);
  }
  REQUIRE(st);
  REQUIRE(st->zombie());
  auto code = read_zombie_status(st->identity());
  int reaped = 0;
  ::waitpid(pid, &reaped, 0);
  REQUIRE(code);
  CHECK(*code == reaped);
  CHECK(WEXITSTATUS(*code) == 7);

  CHECK_FALSE(parse_stat_exit_code("1 (x) S 1 2"));
  CHECK_FALSE(parse_stat_exit_code(""));
}
