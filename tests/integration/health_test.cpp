// `sidelight health`, the image's HEALTHCHECK and an exec probe: exit 0 on 200, 1 on another
// answer, 2 when nothing answers; and a sidecar's readiness, which leaves the upstream out.
#include <catch2/catch.hpp>

#include "support/harness.hpp"

using namespace sidelight::test;
using namespace std::chrono_literals;

TEST_CASE("sidelight health: liveness, readiness with and without the upstream", "[admin][k8s]") {
  temp_dir dir;
  // An upstream that refuses every connection: port 1, where nothing listens.
  agent a(dir,
          "heartbeat: { interval: 1s }\nexporters:\n  otlp:\n    endpoint: http://127.0.0.1:1\n"
          "    timeout: 1s\n");
  REQUIRE(a.wait_for_log("admin: ", bound(5s)));
  REQUIRE(a.wait_for_log("upstream failed", bound(10s)));

  auto live = run_cli(dir, {"health", "--admin", a.admin_address()});
  INFO(live.output << "\nagent log:\n" << a.log());
  CHECK(live.exit_code == 0);
  CHECK(live.output == "ok\n");

  auto ready = run_cli(dir, {"health", "--admin", a.admin_address(), "/readyz"});
  CHECK(ready.exit_code == 1);
  CHECK(ready.output.find("not ready:") != std::string::npos);

  auto sidecar = run_cli(dir, {"health", "--admin", a.admin_address(), "/readyz?upstream=ignore"});
  CHECK(sidecar.exit_code == 0);
  CHECK(sidecar.output.find("ready\n  (not counted) exporter otlp") == 0);
}

TEST_CASE("sidelight health exits 2 when nothing answers", "[admin][k8s]") {
  temp_dir dir;
  auto r = run_cli(dir, {"health", "--admin", "unix:" + (dir / "none.sock")});
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("cannot get /healthz from unix:") != std::string::npos);
}
