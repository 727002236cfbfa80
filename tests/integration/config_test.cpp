// The command line and configuration reload, run as a user would.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/harness.hpp"
#include "support/otlp_receiver.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;

TEST_CASE("check-config prints every problem with file:line:column and exits 1", "[cli]") {
  temp_dir dir;
  auto path = dir / "bad.yaml";
  write_file(path, "heartbeat:\n  intervall: 15s\ntargets:\n  - name: x\n");
  auto r = run_cli(dir, {"check-config", "--config", path});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find(path + ":2:3: error: heartbeat.intervall: unknown key; did you mean "
                             "'interval'?") != std::string::npos);
  CHECK(r.output.find(path + ":4:5: error: targets[0]: target 'x' has no identity") !=
        std::string::npos);
  CHECK(r.output.find("2 error(s)") != std::string::npos);
}

TEST_CASE("check-config accepts the shipped config and exits 0", "[cli]") {
  temp_dir dir;
  auto r =
      run_cli(dir, {"check-config", "--config", SIDELIGHT_SOURCE_DIR "/config/sidelight.yaml"});
  CHECK(r.exit_code == 0);
}

TEST_CASE("a bad config never starts the agent", "[cli]") {
  temp_dir dir;
  auto path = dir / "bad.yaml";
  write_file(path, "targets:\n  - name: x\n    pid: nope\n");
  auto r = run_cli(dir, {"run", "--config", path});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find(path + ":3:10: error: targets[0].pid: expected a whole number") !=
        std::string::npos);
}

TEST_CASE("a missing config file is a clear error", "[cli]") {
  temp_dir dir;
  auto r = run_cli(dir, {"run", "--config", dir / "nope.yaml"});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("cannot read the configuration file") != std::string::npos);
}

TEST_CASE("usage errors exit 1 with a hint, --version exits 0", "[cli]") {
  temp_dir dir;
  auto bad = run_cli(dir, {"--frobnicate"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.output.find("--help") != std::string::npos);
  auto v = run_cli(dir, {"--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.output.rfind("sidelight ", 0) == 0);
}

TEST_CASE("SIGHUP applies a good config and refuses a bad one, keeping the old",
          "[signals][reload]") {
  temp_dir dir;
  otlp_receiver r;
  auto bin = sleep_binary(dir, "sl-reload");
  child first({bin, "600"});
  child second({bin, "601"});
  auto base = "heartbeat: { interval: 60s }\nexporters:\n  otlp: { endpoint: '" + r.endpoint() +
              "', compression: none }\ntargets:\n";
  agent a(dir, base + "  - name: svc-a\n    pid: " + std::to_string(first.pid()) + "\n");
  REQUIRE(r.wait_for(heartbeat_of("svc-a", 1), bound(5s)));

  // A bad config: refused, and the agent keeps running on the old one.
  write_file(a.config_path(), base + "  - name: svc-b\n    pidd: 1\n");
  a.signal(SIGHUP);
  REQUIRE(a.wait_for_log("refused", bound(5s)));
  CHECK(a.log().find("pidd") != std::string::npos);
  CHECK(a.running());

  // A good config: the new target appears, and the old one keeps being watched.
  write_file(a.config_path(), base + "  - name: svc-a\n    pid: " + std::to_string(first.pid()) +
                                  "\n  - name: svc-b\n    pid: " + std::to_string(second.pid()) +
                                  "\n");
  a.signal(SIGHUP);
  auto b = r.wait_for(heartbeat_of("svc-b", 1), bound(5s));
  INFO(a.log());
  REQUIRE(b);
  auto killed = std::chrono::steady_clock::now();
  first.kill(SIGKILL);
  CHECK(r.wait_for_after(killed, heartbeat_of("svc-a", 0), bound(2s)));
}

TEST_CASE("JSON logs and the JSON console exporter write one JSON object per line", "[console]") {
  temp_dir dir;
  auto bin = sleep_binary(dir, "sl-json");
  child sleeper({bin, "600"});
  agent a(dir,
          "log: { format: json }\nexporters:\n  console: { format: json }\ntargets:\n  - name: "
          "svc-json\n    pid: " +
              std::to_string(sleeper.pid()) + "\n");
  REQUIRE(a.wait_for_log("\"svc-json\"", bound(5s)));
  a.signal(SIGTERM);
  REQUIRE(a.wait(bound(6s)) != -1);
  std::istringstream lines(a.log());
  std::string line;
  int logs = 0, exports = 0;
  bool saw_heartbeat = false;
  while (std::getline(lines, line)) {
    INFO("line: " << line);
    auto j = nlohmann::json::parse(line);  // throws, failing the test, on anything but JSON
    if (j.contains("resourceMetrics")) {
      ++exports;
      for (const auto& rm : j["resourceMetrics"])
        for (const auto& sm : rm["scopeMetrics"])
          for (const auto& m : sm["metrics"])
            if (m["name"] == "service.heartbeat") saw_heartbeat = true;
    } else {
      ++logs;
      CHECK(j.contains("time"));
      CHECK(j.contains("level"));
      CHECK(j.contains("message"));
    }
  }
  CHECK(logs > 0);
  CHECK(exports > 0);
  CHECK(saw_heartbeat);
}

TEST_CASE("systemd notification: READY=1 once running, RELOADING=1 and STOPPING=1", "[signals]") {
  temp_dir dir;
  auto path = dir / "notify.sock";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  auto receive = [&]() -> std::string {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(bound(5000ms).count())) != 1)
      return "<nothing within the bound>";
    char buf[256];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "<error>";
  };
  agent a(dir, "exporters: { console: {} }\n", {"NOTIFY_SOCKET=" + path});
  CHECK(receive() == "READY=1");
  a.signal(SIGHUP);
  CHECK(receive() == "RELOADING=1");
  CHECK(receive() == "READY=1");
  a.signal(SIGTERM);
  CHECK(receive() == "STOPPING=1");
  ::close(fd);
}
