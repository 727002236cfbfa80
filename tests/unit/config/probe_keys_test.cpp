// The probe keys: a target's http: probe and a socket check's send/expect, with every refusal
// `sidelight check-config` gives for them, at its position.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/loader.hpp"

using namespace sidelight::config;
using namespace std::chrono_literals;

namespace {

env_lookup no_env() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

std::vector<std::string> problems_of(const std::string& yaml) {
  auto r = load_text(yaml, "t.yaml", no_env());
  std::vector<std::string> out;
  for (const auto& p : r.problems)
    out.push_back(format_problem(p));
  return out;
}

std::string only_problem(const std::string& yaml) {
  auto all = problems_of(yaml);
  INFO("document:\n" << yaml);
  REQUIRE(all.size() == 1);
  return all[0];
}

config load_ok(const std::string& yaml) {
  auto r = load_text(yaml, "t.yaml", no_env());
  for (const auto& p : r.problems)
    UNSCOPED_INFO(format_problem(p));
  REQUIRE(r.ok());
  return *r.value;
}

std::string with_http(const std::string& http) {
  return "targets:\n  - name: x\n    pid: 1\n    http: " + http + "\n";
}

}  // namespace

TEST_CASE("http probe: absent by default, defaults when given", "[config][probe]") {
  auto none = load_ok("targets:\n  - name: x\n    pid: 1\n");
  CHECK_FALSE(none.targets[0].http.enabled());
  CHECK_FALSE(none.targets[0].http.interval);

  auto d = load_ok(with_http("{ url: http://127.0.0.1:8080/healthz }"));
  const auto& h = d.targets[0].http;
  CHECK(h.enabled());
  CHECK(h.url == "http://127.0.0.1:8080/healthz");
  CHECK(h.address == "127.0.0.1");
  CHECK(h.port == 8080);
  CHECK(h.host == "127.0.0.1:8080");
  CHECK(h.path == "/healthz");
  CHECK(h.expect_status == 200);
  CHECK(h.timeout == 1s);
  // The interval follows the heartbeat's, or the target's own.
  REQUIRE(h.interval);
  CHECK(*h.interval == 15s);
  auto own = load_ok(
      "heartbeat: { interval: 20s }\ntargets:\n  - name: x\n    pid: 1\n    interval: 5s\n"
      "    http: { url: 'http://localhost' }\n  - name: y\n    pid: 2\n"
      "    http: { url: 'http://[::1]:81/?q=1#frag' }\n");
  CHECK(*own.targets[0].http.interval == 5s);
  CHECK(own.targets[0].http.address == "127.0.0.1");
  CHECK(own.targets[0].http.host == "localhost");
  CHECK(own.targets[0].http.port == 80);
  CHECK(own.targets[0].http.path == "/");
  CHECK(*own.targets[1].http.interval == 20s);
  CHECK(own.targets[1].http.address == "::1");
  CHECK(own.targets[1].http.host == "[::1]:81");
  CHECK(own.targets[1].http.path == "/?q=1");
}

TEST_CASE("http probe: every key set", "[config][probe]") {
  auto c = load_ok(with_http(
      "{ url: 'http://10.0.0.7:9/ready', expect_status: 204, timeout: 250ms, interval: 2s }"));
  const auto& h = c.targets[0].http;
  CHECK(h.expect_status == 204);
  CHECK(h.timeout == 250ms);
  CHECK(*h.interval == 2s);
  // Any kind of target takes one.
  load_ok(
      "targets:\n  - name: x\n    process: { comm: x }\n    http: { url: http://127.0.0.1/ }\n");
  load_ok(
      "targets:\n  - name: x\n    socket: { tcp: 127.0.0.1:80 }\n"
      "    http: { url: http://127.0.0.1/ }\n");
}

TEST_CASE("http probe: what is refused, and why", "[config][probe]") {
  CHECK(only_problem(with_http("{ url: 'https://127.0.0.1/healthz' }")) ==
        "t.yaml:4:18: error: targets[0].http.url: https is not supported for probes (they have "
        "no TLS client); probe an http:// URL instead of 'https://127.0.0.1/healthz'");
  CHECK(only_problem(with_http("{ url: 'http://db.internal:8080/' }")) ==
        "t.yaml:4:18: error: targets[0].http.url: expected an IP address or localhost in the URL "
        "(host names are not resolved), got 'db.internal'");
  CHECK(only_problem(with_http("{ url: '127.0.0.1:8080' }")) ==
        "t.yaml:4:18: error: targets[0].http.url: expected an http:// URL such as "
        "http://127.0.0.1:8080/healthz, got '127.0.0.1:8080'");
  // A space or a line break would end up in the request line.
  CHECK(only_problem(with_http("{ url: \"http://127.0.0.1/a b\" }"))
            .find("expected an http:// URL") != std::string::npos);
  CHECK(only_problem(with_http("{ url: \"http://127.0.0.1/a\\r\\nX: y\" }"))
            .find("expected an http:// URL") != std::string::npos);
  CHECK(only_problem(with_http("{ url: 'http://u:p@127.0.0.1/' }"))
            .find("credentials in a probe URL are not supported") != std::string::npos);
  CHECK(only_problem(with_http("{ url: 'http://127.0.0.1:0/' }"))
            .find("expected http://HOST[:PORT]/PATH") != std::string::npos);
  CHECK(only_problem(with_http("{ timeout: 1s }")) ==
        "t.yaml:4:11: error: targets[0].http: give url: the http:// URL to probe");
  CHECK(only_problem(with_http("{ url: 'http://127.0.0.1/', expect_status: 600 }")) ==
        "t.yaml:4:54: error: targets[0].http.expect_status: must be between 100 and 599, got 600");
  CHECK(only_problem(with_http("{ url: 'http://127.0.0.1/', interval: 10ms }"))
            .find("targets[0].http.interval: must be at least 100ms, got 10ms") !=
        std::string::npos);
  CHECK(only_problem(with_http("{ url: 'http://127.0.0.1/', timeot: 1s }"))
            .find("targets[0].http.timeot: unknown key; did you mean 'timeout'?") !=
        std::string::npos);
  CHECK(only_problem("targets:\n  - name: x\n    socket: { tcp: 127.0.0.1:80, check: connect }\n"
                     "    http: { url: http://127.0.0.1/ }\n")
            .find("targets[0].http: target 'x' probes already with socket check: connect") !=
        std::string::npos);
}

TEST_CASE("socket send/expect: with check: connect only", "[config][probe]") {
  auto c = load_ok(
      "targets:\n  - name: x\n    socket: { tcp: 127.0.0.1:6379, check: connect, "
      "send: \"PING\\r\\n\", expect: \"+PONG\" }\n");
  CHECK(c.targets[0].socket.send == "PING\r\n");
  CHECK(c.targets[0].socket.expect == "+PONG");
  auto plain = load_ok("targets:\n  - name: x\n    socket: { tcp: 127.0.0.1:6379 }\n");
  CHECK(plain.targets[0].socket.send.empty());
  CHECK(plain.targets[0].socket.expect.empty());
  CHECK(only_problem("targets:\n  - name: x\n    socket: { tcp: 127.0.0.1:6379, expect: x }\n") ==
        "t.yaml:3:36: error: targets[0].socket.expect: expect needs check: connect (listen never "
        "connects)");
  CHECK(only_problem("targets:\n  - name: x\n    socket: { tcp: 127.0.0.1:1, check: connect, "
                     "send: '' }\n")
            .find("targets[0].socket.send: must not be empty") != std::string::npos);
  CHECK(only_problem("targets:\n  - name: x\n    socket: { tcp: 127.0.0.1:1, check: connect, "
                     "expect: '" +
                     std::string(1025, 'a') + "' }\n")
            .find("targets[0].socket.expect: must be at most 1024 bytes") != std::string::npos);
}

TEST_CASE("a changed probe makes a new watcher on reload", "[config][probe]") {
  auto a = load_ok(with_http("{ url: 'http://127.0.0.1/' }"));
  auto b = load_ok(with_http("{ url: 'http://127.0.0.1/', expect_status: 204 }"));
  auto c = load_ok("targets:\n  - name: x\n    pid: 1\n");
  CHECK(watch_fingerprint(a.targets[0]) != watch_fingerprint(b.targets[0]));
  CHECK(watch_fingerprint(a.targets[0]) != watch_fingerprint(c.targets[0]));
  auto s1 = load_ok("targets:\n  - name: x\n    socket: { tcp: 127.0.0.1:1, check: connect }\n");
  auto s2 = load_ok(
      "targets:\n  - name: x\n    socket: { tcp: 127.0.0.1:1, check: connect, expect: x }\n");
  CHECK(watch_fingerprint(s1.targets[0]) != watch_fingerprint(s2.targets[0]));
}
