// The admin endpoint of a running agent, through `sidelight status` as a user runs it.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/harness.hpp"
#include "support/intake_client.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;

TEST_CASE("sidelight status shows the targets of a running agent", "[admin]") {
  temp_dir dir;
  child sleeper({sleep_binary(dir, "sl-status"), "600"});
  agent a(dir, "exporters: { console: {} }\ntargets:\n  - name: svc-status\n    pid: " +
                   std::to_string(sleeper.pid()) + "\n");
  REQUIRE(a.wait_for_log("admin: ", bound(5s)));

  auto table = run_cli(dir, {"status", "--admin", a.admin_address()});
  INFO(table.output << "\nagent log:\n" << a.log());
  CHECK(table.exit_code == 0);
  CHECK(table.output.find("svc-status") != std::string::npos);
  CHECK(table.output.find(std::to_string(sleeper.pid())) != std::string::npos);
  CHECK(table.output.find("console") != std::string::npos);

  // A client that connects and sends nothing does not hold the endpoint up.
  int stuck = connect_unix(a.admin_address().substr(5));
  REQUIRE(stuck >= 0);
  auto json = run_cli(dir, {"status", "--admin", a.admin_address(), "--json"});
  ::close(stuck);
  CHECK(json.exit_code == 0);
  auto doc = nlohmann::json::parse(json.output);
  REQUIRE(doc["targets"].size() == 1);
  CHECK(doc["targets"][0]["target"] == "svc-status");
  CHECK(doc["targets"][0]["state"] == "running");
  REQUIRE(doc["targets"][0]["instances"].size() == 1);
  CHECK(doc["targets"][0]["instances"][0]["state"] == "up");
  CHECK(doc["targets"][0]["instances"][0]["pid"] == sleeper.pid());
  CHECK(doc["ready"] == true);

  sleeper.kill(SIGKILL);
  sleeper.wait(2s);
  REQUIRE(a.wait_for_log("target svc-status: down", bound(5s)));
  auto after = run_cli(dir, {"status", "--admin", a.admin_address(), "--json"});
  auto doc2 = nlohmann::json::parse(after.output);
  CHECK(doc2["targets"][0]["state"] == "down");
  CHECK(doc2["targets"][0]["instances"][0]["state"] == "down");
  CHECK(doc2["targets"][0]["instances"][0]["last_change"] == "down");
}

TEST_CASE("sidelight status says clearly when nothing answers", "[admin]") {
  temp_dir dir;
  auto r = run_cli(dir, {"status", "--admin", "unix:" + (dir / "none.sock")});
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("cannot get the status from unix:") != std::string::npos);
  CHECK(r.output.find("is sidelight running") != std::string::npos);
}

TEST_CASE("an admin address in use stops the start with exit 2", "[admin]") {
  temp_dir dir;
  agent first(dir, "exporters: { console: {} }\n");
  REQUIRE(first.wait_for_log("admin: ", bound(5s)));
  temp_dir other;
  auto cfg = other / "second.yaml";
  write_file(cfg,
             "exporters: { console: {} }\nadmin: { listen: '" + first.admin_address() + "' }\n");
  auto r = run_cli(other, {"run", "--config", cfg});
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("cannot start: admin: cannot listen on " + first.admin_address() +
                      ": in use by another process") != std::string::npos);
}

TEST_CASE("the admin endpoint caps connections: the one waiting longest makes room", "[admin]") {
  temp_dir dir;
  agent a(dir, "exporters: { console: {} }\n");
  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  auto path = a.admin_address().substr(5);
  std::vector<int> fds;
  for (int i = 0; i < 70; ++i) {
    int fd = connect_unix(path);
    REQUIRE(fd >= 0);
    fds.push_back(fd);
  }
  // Over the cap of 64, each new connection closed the oldest one waiting: the first 6 (EOF).
  int closed = 0;
  for (int i = 0; i < 6; ++i) {
    pollfd p{fds[static_cast<std::size_t>(i)], POLLIN, 0};
    char c;
    if (::poll(&p, 1, static_cast<int>(bound(2000ms).count())) == 1 &&
        ::recv(fds[static_cast<std::size_t>(i)], &c, 1, 0) == 0) {
      ++closed;
    }
  }
  CHECK(closed == 6);
  // While the other 64 are held, the endpoint answers.
  auto r = run_cli(dir, {"status", "--admin", a.admin_address()});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  for (int fd : fds)
    ::close(fd);
}
