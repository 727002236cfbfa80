// sidelight under systemd's journal: when JOURNAL_STREAM names its stderr, every log line starts
// with its "<N>" priority and has no timestamp, and JSON lines carry the structured fields.
#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/harness.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;

namespace {

// JOURNAL_STREAM=DEV:INODE for the log file the harness gives the agent as stderr (it appends, so
// creating the file first fixes its inode).
std::string journal_stream_for(const temp_dir& dir) {
  auto path = dir / "sidelight.log";
  write_file(path, "");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return "JOURNAL_STREAM=" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

std::string line_with(const std::string& log, const std::string& text) {
  auto at = log.find(text);
  if (at == std::string::npos) return "";
  auto begin = log.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return log.substr(begin, log.find('\n', at) - begin);
}

}  // namespace

TEST_CASE("under the journal, text lines are <priority>message without a timestamp", "[journal]") {
  temp_dir dir;
  auto env = journal_stream_for(dir);
  agent a(dir, "targets: []\nexporters: { otlp: { endpoint: '127.0.0.1:9' } }\n", {env});
  REQUIRE(a.wait_for_log("upstream failed", bound(10s)));
  CHECK(line_with(a.log(), "starting with").rfind("<6>sidelight ", 0) == 0);
  CHECK(line_with(a.log(), "upstream failed").rfind("<4>exporter otlp: upstream failed", 0) == 0);
  std::istringstream lines(a.log());
  for (std::string line; std::getline(lines, line);) {
    INFO(line);
    CHECK(line.size() > 3);
    CHECK(line[0] == '<');  // the priority first, and no timestamp
  }
}

TEST_CASE("under the journal, JSON lines carry the target, instance, pid and error", "[journal]") {
  temp_dir dir;
  auto env = journal_stream_for(dir);
  child sleeper({sleep_binary(dir, "sl-journal"), "600"});
  agent a(dir,
          "log: { format: json }\ntargets:\n  - name: journal-target\n    pid: " +
              std::to_string(sleeper.pid()) + "\nexporters: { console: {} }\n",
          {env});
  REQUIRE(a.wait_for_log("journal-target", bound(10s)));
  sleeper.kill(SIGKILL);
  REQUIRE(a.wait_for_log("target journal-target: down", bound(10s)));
  auto line = line_with(a.log(), "target journal-target: down");
  INFO(line);
  REQUIRE(line.rfind("<6>{", 0) == 0);
  auto j = nlohmann::json::parse(line.substr(3));
  CHECK(j["level"] == "info");
  CHECK(j["target"] == "journal-target");
  CHECK(j["pid"] == sleeper.pid());
  CHECK(j["instance"].get<std::string>().size() >= 8);
  CHECK_FALSE(j["error"].get<std::string>().empty());
  CHECK_FALSE(j.contains("time"));
}
