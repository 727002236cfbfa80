#include "watch/process_match.hpp"

#include <re2/re2.h>

#include <catch2/catch.hpp>

using namespace sidelight;
using namespace sidelight::watch;

namespace {

struct fake_probe final : process_probe {
  process_stat st;
  std::optional<uid_t> uid = 1000;
  std::optional<std::string> exe_path = "/usr/bin/node";
  std::optional<std::string> cmd = "node /srv/app/worker.js --queue=high";
  int exe_reads = 0, cmd_reads = 0;

  fake_probe() {
    st.pid = 10;
    st.ppid = 1;
    st.state = 'S';
    st.comm = "node";
  }
  const process_stat& stat() const override { return st; }
  std::optional<uid_t> owner() override { return uid; }
  std::optional<std::string> exe() override {
    ++exe_reads;
    return exe_path;
  }
  std::optional<std::string> cmdline() override {
    ++cmd_reads;
    return cmd;
  }
};

config::process_match with_cmdline(const std::string& re) {
  config::process_match m;
  m.cmdline = re;
  m.cmdline_re = std::make_shared<const RE2>(re);
  return m;
}

}  // namespace

TEST_CASE("comm must equal exactly", "[match]") {
  fake_probe p;
  config::process_match m;
  m.comm = "node";
  CHECK(matches(m, p));
  m.comm = "nod";
  CHECK_FALSE(matches(m, p));
}

TEST_CASE("exe matches the base name or the full path", "[match]") {
  CHECK(exe_matches("node", "/usr/bin/node"));
  CHECK(exe_matches("/usr/bin/node", "/usr/bin/node"));
  CHECK_FALSE(exe_matches("/bin/node", "/usr/bin/node"));
  CHECK_FALSE(exe_matches("nod", "/usr/bin/node"));
  CHECK_FALSE(exe_matches("node", "/usr/bin/nodejs"));
}

TEST_CASE("without permission to read exe, argv[0] stands in", "[match]") {
  fake_probe p;
  p.exe_path.reset();
  p.cmd = "/usr/bin/node worker.js";
  config::process_match m;
  m.exe = "node";
  CHECK(matches(m, p));
}

TEST_CASE("cmdline is a regular expression searched in the joined arguments", "[match]") {
  fake_probe p;
  CHECK(matches(with_cmdline(R"(worker\.js)"), p));
  CHECK(matches(with_cmdline(R"(--queue=(high|low))"), p));
  CHECK_FALSE(matches(with_cmdline(R"(^worker)"), p));
}

TEST_CASE("user compares the owner's uid", "[match]") {
  fake_probe p;
  config::process_match m;
  m.uid = 1000;
  CHECK(matches(m, p));
  m.uid = 0;
  CHECK_FALSE(matches(m, p));
}

TEST_CASE("all given fields must match, and costly reads happen only when needed", "[match]") {
  fake_probe p;
  auto m = with_cmdline("worker");
  m.comm = "python3";
  m.exe = "node";
  CHECK_FALSE(matches(m, p));
  CHECK(p.exe_reads == 0);
  CHECK(p.cmd_reads == 0);
}

TEST_CASE("zombies and kernel threads never match", "[match]") {
  config::process_match m;
  m.comm = "node";
  fake_probe zombie;
  zombie.st.state = 'Z';
  CHECK_FALSE(matches(m, zombie));
  fake_probe kthread;
  kthread.st.ppid = 2;
  CHECK_FALSE(matches(m, kthread));
}
