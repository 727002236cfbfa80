// Every problem `sidelight check-config` can report, with its exact text and position.
#include "config/loader.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>

using namespace sidelight::config;
using namespace std::chrono_literals;

namespace {

env_lookup fake_env(std::map<std::string, std::string> vars = {}) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<std::string> problems_of(const std::string& yaml, const env_lookup& env = fake_env()) {
  auto r = load_text(yaml, "t.yaml", env);
  std::vector<std::string> out;
  for (const auto& p : r.problems)
    out.push_back(format_problem(p));
  return out;
}

// The only problem a document has.
std::string only_problem(const std::string& yaml, const env_lookup& env = fake_env()) {
  auto all = problems_of(yaml, env);
  INFO("document:\n" << yaml);
  REQUIRE(all.size() == 1);
  return all[0];
}

config load_ok(const std::string& yaml, const env_lookup& env = fake_env()) {
  auto r = load_text(yaml, "t.yaml", env);
  for (const auto& p : r.problems)
    UNSCOPED_INFO(format_problem(p));
  REQUIRE(r.ok());
  return *r.value;
}

}  // namespace

TEST_CASE("the documented example configuration loads as written", "[config]") {
  auto cfg = load_ok(R"(
resource:
  deployment.environment.name: production
  service.namespace: emp
heartbeat:
  interval: 15s
targets:
  - name: emp-api
    version: 1.4.2
    pidfile: /run/emp-api.pid
  - name: emp-worker
    process: { comm: node, cmdline: 'worker\.js' }
    interval: 30s
  - name: redis
    socket: { tcp: 127.0.0.1:6379, check: listen }
  - name: nginx
    systemd_unit: nginx.service
  - name: batch-job
    pid: 4242
queue:
  max_bytes: 64MiB
batch:
  max_items: 8192
  timeout: 200ms
exporters:
  otlp:
    endpoint: collector.observability:4317
    protocol: grpc
    headers: { authorization: "Bearer ${env:DASH0_TOKEN}" }
    compression: gzip
    tls: { insecure: false, ca_file: /etc/ssl/certs/ca-certificates.crt }
admin:
  listen: 127.0.0.1:13133
)",
                     fake_env({{"DASH0_TOKEN", "s3cret"}}));
  REQUIRE(cfg.targets.size() == 5);
  CHECK(cfg.targets[0].identity == target::kind::pidfile);
  CHECK(cfg.targets[0].version == "1.4.2");
  CHECK(cfg.targets[1].identity == target::kind::process);
  CHECK(cfg.targets[1].interval == std::chrono::nanoseconds(30s));
  CHECK(cfg.targets[1].process.comm == "node");
  CHECK(cfg.targets[2].socket.port == 6379);
  CHECK(cfg.targets[2].socket.check == socket_check::method::listen);
  CHECK(cfg.targets[3].systemd_unit == "nginx.service");
  CHECK(cfg.targets[4].pid == 4242);
  CHECK(cfg.heartbeat.interval == std::chrono::nanoseconds(15s));
  CHECK(cfg.queue.max_bytes == 64ull << 20);
  REQUIRE(cfg.exporters.otlp.size() == 1);
  const auto& e = cfg.exporters.otlp[0];
  CHECK(e.target.host == "collector.observability");
  CHECK(e.target.port == 4317);
  REQUIRE(e.headers.size() == 1);
  CHECK(e.headers[0].second == "Bearer s3cret");
  CHECK(e.use_tls());
  CHECK(cfg.exporters.console.empty());
}

TEST_CASE("a file exporter writes OTLP/JSON lines to its path by default", "[config]") {
  auto cfg = load_ok("exporters:\n  file/archive: { path: /var/log/otlp.jsonl }\n");
  REQUIRE(cfg.exporters.console.size() == 1);
  CHECK(cfg.exporters.console[0].name == "file/archive");
  CHECK(cfg.exporters.console[0].path == "/var/log/otlp.jsonl");
  CHECK(cfg.exporters.console[0].style == sidelight::config::console_exporter::format::json);
}

TEST_CASE("an empty file is a valid config with a console exporter", "[config]") {
  auto cfg = load_ok("");
  CHECK(cfg.targets.empty());
  REQUIRE(cfg.exporters.console.size() == 1);
  CHECK(cfg.heartbeat.interval == std::chrono::nanoseconds(15s));
}

TEST_CASE("the shipped config/sidelight.yaml is valid", "[config]") {
  auto r = load_file(SIDELIGHT_SOURCE_DIR "/config/sidelight.yaml", fake_env());
  for (const auto& p : r.problems)
    UNSCOPED_INFO(format_problem(p));
  CHECK(r.ok());
}

TEST_CASE("queue.when_full takes one of three policies, backpressure first by default",
          "[config]") {
  CHECK(load_ok("").queue.full == when_full::backpressure_then_drop_oldest);
  CHECK(load_ok("queue: { when_full: drop_oldest }\n").queue.full == when_full::drop_oldest);
  CHECK(load_ok("queue: { when_full: backpressure }\n").queue.full == when_full::backpressure);
  CHECK(only_problem("queue: { when_full: drop_newest }\n")
            .find("queue.when_full: expected one of") != std::string::npos);
}

TEST_CASE("NDJSON has no TCP listener: intake.ndjson.tcp is an unknown key", "[config]") {
  CHECK(only_problem("intake:\n  ndjson: { tcp: \"127.0.0.1:4319\" }\n")
            .find("intake.ndjson.tcp: unknown key") != std::string::npos);
  CHECK(problems_of("intake:\n  otlp_http: { tcp: \"127.0.0.1:4318\" }\n").empty());
}

TEST_CASE("unknown keys are reported with a did-you-mean", "[config]") {
  CHECK(only_problem("heartbeat:\n  intervall: 15s\n") ==
        "t.yaml:2:3: error: heartbeat.intervall: unknown key; did you mean 'interval'? "
        "(allowed here: interval, discovery_interval)");
  CHECK(only_problem("targetz: []\n")
            .rfind("t.yaml:1:1: error: targetz: unknown key; did you "
                   "mean 'targets'?",
                   0) == 0);
}

TEST_CASE("every problem is reported at once, in file order", "[config]") {
  auto all = problems_of(R"(heartbeat:
  intervall: 15s
targets:
  - name: a
    pid: 12
    pidfile: /run/a.pid
  - name: a
    process: { comm: averyveryverylongname, cmdline: '(' }
  - version: 2
  - name: c
    interval: fast
    pid: 1
log:
  level: loud
)");
  REQUIRE(all.size() == 9);
  CHECK(all[0].rfind("t.yaml:2:3: error: heartbeat.intervall: unknown key", 0) == 0);
  CHECK(all[1] ==
        "t.yaml:6:5: error: targets[0].pidfile: target 'a' has two identities (pid and "
        "pidfile); give exactly one");
  CHECK(all[2] ==
        "t.yaml:7:11: error: targets[1].name: duplicate target name 'a' (first used at line 4)");
  CHECK(all[3] ==
        "t.yaml:8:22: error: targets[1].process.comm: 'averyveryverylongname' is longer than 15 "
        "characters and can never equal /proc/PID/comm (the kernel truncates it); match on exe "
        "or cmdline instead");
  CHECK(all[4] ==
        "t.yaml:8:54: error: targets[1].process.cmdline: not a valid regular expression: "
        "missing ): (");
  CHECK(all[5] == "t.yaml:9:5: error: targets[2]: missing 'name' (it becomes service.name)");
  CHECK(all[6] ==
        "t.yaml:9:5: error: targets[2]: this target has no identity; give exactly one of pid, "
        "pidfile, process, systemd_unit, socket");
  CHECK(all[7] ==
        "t.yaml:11:15: error: targets[3].interval: expected a duration like 250ms, 15s or 2m, "
        "got 'fast'");
  CHECK(all[8] ==
        "t.yaml:14:10: error: log.level: expected one of trace, debug, info, warn, error, off, "
        "got 'loud'");
}

TEST_CASE("target identity problems", "[config]") {
  CHECK(only_problem("targets:\n  - name: x\n") ==
        "t.yaml:2:5: error: targets[0]: target 'x' has no identity; give exactly one of pid, "
        "pidfile, process, systemd_unit, socket");
  CHECK(only_problem("targets:\n  - name: x\n    pidfile: rel.pid\n") ==
        "t.yaml:3:14: error: targets[0].pidfile: expected an absolute file path, got 'rel.pid'");
  CHECK(only_problem("targets:\n  - name: x\n    pid: -4\n") ==
        "t.yaml:3:10: error: targets[0].pid: expected a whole number, got '-4'");
  CHECK(only_problem("targets:\n  - name: x\n    pid: 0\n") ==
        "t.yaml:3:10: error: targets[0].pid: must be between 1 and 4194304, got 0");
  CHECK(only_problem("targets:\n  - name: x\n    systemd_unit: a/b\n") ==
        "t.yaml:3:19: error: targets[0].systemd_unit: expected a unit name such as "
        "nginx.service, got 'a/b'");
  CHECK(only_problem("targets:\n  - name: x\n    socket: { tcp: nohost }\n") ==
        "t.yaml:3:20: error: targets[0].socket.tcp: expected HOST:PORT such as 127.0.0.1:6379 "
        "or [::1]:6379, got 'nohost'");
  CHECK(only_problem("targets:\n  - name: x\n    socket: { tcp: 'db.local:5432' }\n") ==
        "t.yaml:3:20: error: targets[0].socket.tcp: expected an IP address (or localhost or *), "
        "got 'db.local'");
  CHECK(only_problem("targets:\n  - name: x\n    socket: { unix: rel.sock }\n") ==
        "t.yaml:3:21: error: targets[0].socket.unix: expected an absolute socket path, got "
        "'rel.sock'");
  CHECK(only_problem("targets:\n  - name: x\n    socket: { check: listen }\n") ==
        "t.yaml:3:13: error: targets[0].socket: give tcp: HOST:PORT or unix: PATH");
  CHECK(only_problem("targets:\n  - name: x\n    process: { user: nosuchuserxyz }\n") ==
        "t.yaml:3:22: error: targets[0].process.user: no user named 'nosuchuserxyz' on this "
        "machine (give a user name or a uid)");
  CHECK(only_problem("targets:\n  - name: x\n    pid: 1\n    interval: 500ms\n") ==
        "t.yaml:4:15: error: targets[0].interval: must be at least 1s, got 500ms");
  CHECK(only_problem("targets: { name: x }\n") ==
        "t.yaml:1:10: error: targets: expected a list of targets, got a mapping");
}

TEST_CASE("min_instances and crash_loop: defaults, values and bounds", "[config]") {
  auto d = load_ok("targets:\n  - name: x\n    pid: 1\n");
  CHECK(d.targets[0].min_instances == 1);
  CHECK(d.targets[0].crash_loop.restarts == 3);
  CHECK(d.targets[0].crash_loop.window == 10min);
  auto c = load_ok(
      "targets:\n  - name: x\n    pid: 1\n    min_instances: 3\n"
      "    crash_loop: { restarts: 5, window: 2m }\n");
  CHECK(c.targets[0].min_instances == 3);
  CHECK(c.targets[0].crash_loop.restarts == 5);
  CHECK(c.targets[0].crash_loop.window == 2min);
  CHECK(only_problem("targets:\n  - name: x\n    pid: 1\n    min_instances: 0\n") ==
        "t.yaml:4:20: error: targets[0].min_instances: must be between 1 and 100000, got 0");
  CHECK(only_problem("targets:\n  - name: x\n    pid: 1\n    min_instances: two\n")
            .find("targets[0].min_instances: expected a whole number") != std::string::npos);
  CHECK(only_problem("targets:\n  - name: x\n    pid: 1\n    crash_loop: { window: 10ms }\n") ==
        "t.yaml:4:27: error: targets[0].crash_loop.window: must be at least 1s, got 10ms");
  CHECK(only_problem("targets:\n  - name: x\n    pid: 1\n    crash_loop: { restart: 2 }\n")
            .find("targets[0].crash_loop.restart: unknown key; did you mean 'restarts'?") !=
        std::string::npos);
}

TEST_CASE("systemd unit names get .service when they have no suffix", "[config]") {
  auto cfg = load_ok("targets:\n  - name: x\n    systemd_unit: nginx\n");
  CHECK(cfg.targets[0].systemd_unit == "nginx.service");
}

TEST_CASE("type problems name what was expected", "[config]") {
  CHECK(only_problem("queue:\n  max_bytes: 12 parsecs\n") ==
        "t.yaml:2:14: error: queue.max_bytes: expected a size like 512KiB, 64MiB or 1GB, got "
        "'12 parsecs'");
  CHECK(only_problem("shutdown_timeout: [1]\n") ==
        "t.yaml:1:19: error: shutdown_timeout: expected a duration like 250ms, 15s or 2m, got a "
        "list");
  CHECK(only_problem("batch:\n  max_items: lots\n") ==
        "t.yaml:2:14: error: batch.max_items: expected a whole number, got 'lots'");
  CHECK(only_problem("targets:\n  - name: x\n    pid: 1\n    process_metrics: maybe\n") ==
        "t.yaml:4:22: error: targets[0].process_metrics: expected true or false, got 'maybe'");
}

TEST_CASE("exporter problems", "[config]") {
  CHECK(only_problem("exporters:\n  consol: {}\n") ==
        "t.yaml:2:3: error: exporters.consol: unknown exporter type 'consol'; did you mean "
        "'console'? (known: otlp, console, file)");
  CHECK(only_problem("exporters:\n  file: { path: relative.jsonl }\n") ==
        "t.yaml:2:17: error: exporters.file.path: expected an absolute file path, got "
        "'relative.jsonl'");
  CHECK(only_problem("exporters:\n  otlp:\n    endpoint: ftp://x\n") ==
        "t.yaml:3:15: error: exporters.otlp.endpoint: unsupported scheme in 'ftp://x'; use "
        "http://, https:// or unix:");
  CHECK(only_problem("exporters:\n  otlp: {}\n") ==
        "t.yaml:2:3: error: exporters.otlp.endpoint: missing; give the upstream's address, such "
        "as collector:4317 (or set OTEL_EXPORTER_OTLP_ENDPOINT)");
  CHECK(only_problem("exporters:\n  otlp:\n    endpoint: x:1\n    compression: brotli\n") ==
        "t.yaml:4:18: error: exporters.otlp.compression: expected one of gzip, none, got "
        "'brotli'");
}

TEST_CASE("malformed YAML is one clear problem", "[config]") {
  auto p = only_problem("targets: [\n");
  CHECK(p.rfind("t.yaml:", 0) == 0);
  CHECK(p.find("not valid YAML") != std::string::npos);
}

TEST_CASE("${env:...} expands in values and unset variables are errors", "[config]") {
  auto env = fake_env({{"PIDFILE", "/run/x.pid"}});
  auto cfg = load_ok("targets:\n  - name: x\n    pidfile: ${env:PIDFILE}\n", env);
  CHECK(cfg.targets[0].pidfile == "/run/x.pid");
  cfg = load_ok("targets:\n  - name: x\n    pidfile: ${env:NOPE:-/run/d.pid}\n", env);
  CHECK(cfg.targets[0].pidfile == "/run/d.pid");
  auto all = problems_of("targets:\n  - name: x\n    pidfile: ${env:NOPE}\n", env);
  REQUIRE(all.size() == 2);
  CHECK(all[0] ==
        "t.yaml:3:14: warning: targets[0].pidfile: environment variable NOPE is not set; using "
        "an empty value");
  CHECK(all[1] == "t.yaml:3:14: error: targets[0].pidfile: expected an absolute file path, got ''");
}

TEST_CASE("OTEL_* variables configure the exporter and the resource", "[config]") {
  auto env = fake_env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317"},
                       {"OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc,x-tenant=t%201"},
                       {"OTEL_RESOURCE_ATTRIBUTES", "service.namespace=emp,team=core"},
                       {"OTEL_SERVICE_NAME", "sidelight-eu"}});
  auto cfg = load_ok("resource:\n  team: payments\n", env);
  REQUIRE(cfg.exporters.otlp.size() == 1);
  const auto& e = cfg.exporters.otlp[0];
  CHECK(e.target.host == "otel");
  CHECK(e.target.port == 4317);
  CHECK_FALSE(e.use_tls());
  REQUIRE(e.headers.size() == 2);
  CHECK(e.headers[1].second == "t 1");
  CHECK(cfg.exporters.console.empty());
  CHECK(cfg.self_service_name == "sidelight-eu");
  // The file wins over OTEL_RESOURCE_ATTRIBUTES for the same key.
  std::map<std::string, attribute_value> attrs;
  for (auto& [k, v] : cfg.resource)
    attrs[k] = v;
  CHECK(std::get<std::string>(attrs["team"]) == "payments");
  CHECK(std::get<std::string>(attrs["service.namespace"]) == "emp");
}

TEST_CASE("endpoints parse in every accepted form", "[config]") {
  auto ok = [](std::string_view text) { return std::get<endpoint>(parse_endpoint(text, 4317)); };
  CHECK(ok("collector:4317").host == "collector");
  CHECK(ok("collector").port == 4317);
  CHECK(ok("http://c:1234").kind == endpoint::scheme::http);
  CHECK(ok("https://c:1234").kind == endpoint::scheme::https);
  CHECK(ok("[::1]:4317").host == "::1");
  CHECK(ok("unix:/run/otel.sock").path == "/run/otel.sock");
  CHECK(ok("unix:///run/otel.sock").path == "/run/otel.sock");
  CHECK(std::holds_alternative<std::string>(parse_endpoint("unix:rel.sock", 4317)));
  CHECK(std::holds_alternative<std::string>(parse_endpoint("http://c:1/v1/metrics", 4317)));
}

TEST_CASE("did_you_mean suggests only close words", "[config]") {
  CHECK(did_you_mean("intervall", {"interval", "timeout"}) == "interval");
  CHECK_FALSE(did_you_mean("zzzzzz", {"interval", "timeout"}).has_value());
}

TEST_CASE("an OTLP/HTTP exporter takes a base URL, on port 4318 by default", "[config]") {
  auto cfg = load_ok(
      "exporters:\n  otlp:\n    endpoint: https://ingress.example/otlp/\n"
      "    protocol: http/protobuf\n");
  const auto& e = cfg.exporters.otlp.at(0);
  CHECK(e.wire == otlp_exporter::protocol::http_protobuf);
  CHECK(e.target.host == "ingress.example");
  CHECK(e.target.port == 4318);
  CHECK(e.target.url_path == "/otlp");
  CHECK(e.use_tls());
  CHECK(load_ok("exporters:\n  otlp: { endpoint: unix:/run/c.sock, protocol: http/protobuf }\n")
            .exporters.otlp.at(0)
            .target.path == "/run/c.sock");
  auto env = fake_env({{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
                       {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"}});
  CHECK(load_ok("exporters:\n  otlp: {}\n", env).exporters.otlp.at(0).wire ==
        otlp_exporter::protocol::http_protobuf);
}

TEST_CASE("OTLP endpoint paths: a base path for HTTP only, never a signal path", "[config]") {
  CHECK(only_problem("exporters:\n  otlp:\n    endpoint: http://c:4318/v1/traces\n"
                     "    protocol: http/protobuf\n") ==
        "t.yaml:3:15: error: exporters.otlp.endpoint: give the base URL without '/v1/traces': "
        "sidelight appends /v1/traces, /v1/metrics and /v1/logs itself");
  CHECK(only_problem("exporters:\n  otlp:\n    endpoint: http://c:4317/otlp\n") ==
        "t.yaml:3:15: error: exporters.otlp.endpoint: expected HOST:PORT without a path, got "
        "'http://c:4317/otlp'");
  CHECK(only_problem("exporters:\n  otlp:\n    endpoint: c:4318/otlp\n"
                     "    protocol: http/protobuf\n") ==
        "t.yaml:3:15: error: exporters.otlp.endpoint: expected HOST:PORT without a path, got "
        "'c:4318/otlp'");
}

TEST_CASE("an OTLP exporter takes a list of endpoints, failed over or in turns", "[config]") {
  auto cfg = load_ok(
      "exporters:\n  otlp:\n    endpoint: [a:4317, 'http://b:4317', unix:/run/c.sock]\n"
      "    balancing: round_robin\n");
  const auto& e = cfg.exporters.otlp.at(0);
  REQUIRE(e.targets.size() == 3);
  CHECK(e.target.host == "a");
  CHECK(e.targets[1].kind == endpoint::scheme::http);
  CHECK(e.targets[2].path == "/run/c.sock");
  CHECK(e.balance == otlp_exporter::balancing::round_robin);
  CHECK(load_ok("exporters:\n  otlp: { endpoint: a:4317 }\n").exporters.otlp.at(0).balance ==
        otlp_exporter::balancing::failover);
  CHECK(only_problem("exporters:\n  otlp:\n    endpoint: [a:4317, 'ftp://b']\n") ==
        "t.yaml:3:24: error: exporters.otlp.endpoint: unsupported scheme in 'ftp://b'; use "
        "http://, https:// or unix:");
  CHECK(only_problem("exporters:\n  otlp:\n    endpoint: []\n") ==
        "t.yaml:3:15: error: exporters.otlp.endpoint: an empty list; give at least one endpoint");
  CHECK(only_problem("exporters:\n  otlp: { endpoint: a, balancing: random }\n") ==
        "t.yaml:2:35: error: exporters.otlp.balancing: expected one of failover, round_robin, got "
        "'random'");
}

TEST_CASE("exporter headers must be valid HTTP: a token name, a value on one line", "[config]") {
  CHECK(only_problem("exporters:\n  otlp:\n    endpoint: a\n    headers: { 'bad name': x }\n") ==
        "t.yaml:4:14: error: exporters.otlp.headers: header 'bad name': a name may hold only "
        "letters, digits and !#$%&'*+-.^_`|~");
  auto env = fake_env({{"OTEL_EXPORTER_OTLP_HEADERS", "x-a=1%0D%0AHost: evil"}});
  auto p = only_problem("exporters:\n  otlp: { endpoint: a }\n", env);
  CHECK_THAT(p, Catch::Contains("a value may not hold control characters such as CR or LF"));
  CHECK(load_ok("exporters:\n  otlp: { endpoint: a, headers: { x-tenant: \"a\\tb\" } }\n")
            .exporters.otlp.at(0)
            .headers.size() == 1);
}

TEST_CASE("with a spool, batches are retried for as long as it holds them unless told otherwise",
          "[config]") {
  auto with = [](const std::string& extra) {
    return load_ok("exporters:\n  otlp:\n    endpoint: http://127.0.0.1:4317\n" + extra)
        .exporters.otlp.at(0)
        .retry.max_elapsed_time;
  };
  CHECK(with("") == std::chrono::minutes(5));
  CHECK(with("    spool: { dir: /var/lib/sidelight/spool }\n") == duration{});
  CHECK(with("    spool: { dir: /var/lib/sidelight/spool }\n    retry: { max_interval: 10s }\n") ==
        duration{});
  CHECK(
      with("    spool: { dir: /var/lib/sidelight/spool }\n    retry: { max_elapsed_time: 1h }\n") ==
      std::chrono::hours(1));
}

TEST_CASE("OTLP/gRPC intake caps the calls open on one connection, 4 unless told", "[config]") {
  auto c = load_ok("intake:\n  otlp_grpc: { unix: /run/s/otlp.sock }\n");
  CHECK(c.intake.otlp_grpc.max_concurrent_streams == 4);
  c = load_ok("intake:\n  otlp_grpc: { unix: /run/s/otlp.sock, max_concurrent_streams: 32 }\n");
  CHECK(c.intake.otlp_grpc.max_concurrent_streams == 32);
  CHECK(
      only_problem("intake:\n  otlp_grpc: { unix: /run/s/o.sock, max_concurrent_streams: 0 }\n") ==
      "t.yaml:2:61: error: intake.otlp_grpc.max_concurrent_streams: must be between 1 and 1024, "
      "got 0");
  // HTTP/1.1 and NDJSON connections carry one request at a time: the key is not theirs.
  CHECK(only_problem("intake:\n  otlp_http: { unix: /run/s/h.sock, max_concurrent_streams: 8 }\n")
            .find("unknown key") != std::string::npos);
}

// Loading used to merge each resource key with a scan of the keys before it: 40,000 keys took
// 5.8 s. Ten times the keys must now take about ten times as long; a quadratic walk takes about a
// hundred. The best of three runs of each size keeps a busy machine from deciding.
TEST_CASE("a resource map of 40,000 keys loads in linear time", "[config][scaling]") {
  auto document = [](int keys) {
    std::string yaml = "resource:\n";
    for (int i = 0; i < keys; ++i)
      yaml += "  key." + std::to_string(i) + ": value" + std::to_string(i) + "\n";
    return yaml;
  };
  auto best_time = [](const std::string& yaml, std::size_t keys) {
    auto best = std::chrono::steady_clock::duration::max();
    for (int run = 0; run < 3; ++run) {
      auto start = std::chrono::steady_clock::now();
      auto r = load_text(yaml, "t.yaml", fake_env());
      best = std::min(best, std::chrono::steady_clock::now() - start);
      REQUIRE(r.ok());
      REQUIRE(r.value->resource.size() == keys);
    }
    return std::chrono::duration<double>(best).count();
  };
  double small = best_time(document(4000), 4000);
  double large = best_time(document(40000), 40000);
  INFO("4,000 keys: " << small << " s; 40,000 keys: " << large << " s");
  CHECK(large / small < 30);
}
