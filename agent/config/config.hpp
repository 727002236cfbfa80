// The config stage owns the agent's configuration: the YAML schema, its defaults, `${env:…}`
// expansion, the standard OTEL_* variables, and validation that reports every problem at once with
// file:line:column. Everything downstream receives a validated, immutable `config` and never
// re-checks it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace re2 {
class RE2;
}

namespace sidelight::config {

using duration = std::chrono::nanoseconds;

// An OTLP attribute value as written in YAML: unquoted scalars keep their YAML type.
using attribute_value = std::variant<std::string, bool, std::int64_t, double>;
using attributes = std::vector<std::pair<std::string, attribute_value>>;

struct position {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
};

struct process_match {
  std::optional<std::string> comm;     // equals /proc/PID/comm
  std::optional<std::string> exe;      // executable base name or full path
  std::optional<std::string> cmdline;  // regular expression (RE2) searched in the command line
  std::shared_ptr<const re2::RE2> cmdline_re;
  std::optional<uid_t> uid;  // from `user`, a name or a number
};

struct socket_check {
  enum class family { tcp, unix_path };
  enum class method { listen, connect };
  family kind = family::tcp;
  std::string host;  // tcp: an IP literal, or empty for "any local address"
  std::uint16_t port = 0;
  std::string path;  // unix
  method check = method::listen;
  duration timeout = std::chrono::seconds(1);
  duration probe_interval = std::chrono::milliseconds(500);
};

struct target {
  enum class kind { pid, pidfile, process, systemd_unit, socket };

  std::string name;  // service.name
  std::string version;
  std::optional<duration> interval;  // overrides heartbeat.interval
  attributes resource;
  bool process_metrics = true;
  std::string container_name;  // k8s.container.name: the pod spec's container that runs it

  kind identity = kind::pid;
  pid_t pid = 0;
  std::string pidfile;
  process_match process;
  std::string systemd_unit;
  socket_check socket;

  position where;
};

struct heartbeat_settings {
  duration interval = std::chrono::seconds(15);
  // How often /proc is rescanned for `process` targets. With kernel process events available
  // (CAP_NET_ADMIN) new processes are seen at once and this is only a safety net.
  duration discovery_interval = std::chrono::milliseconds(500);
};

struct listener {
  std::string unix_path;
  std::string unix_datagram;  // NDJSON only: one object per datagram
  std::string tcp;            // host:port, loopback unless the user says otherwise
  std::uint32_t mode = 0660;
  std::string group;
  std::uint64_t max_message_size = 4ull << 20;  // a request body, or one NDJSON line
  std::uint32_t max_connections = 256;
  duration idle_timeout = std::chrono::minutes(5);
  // OTLP/gRPC only: calls one connection may have open at once (HTTP/2 streams); a client's
  // further calls wait on its side instead of in sidelight's buffers.
  std::uint32_t max_concurrent_streams = 4;
  bool enabled() const { return !unix_path.empty() || !unix_datagram.empty() || !tcp.empty(); }
};

// Head sampling of client telemetry by trace id, as OpenTelemetry's TraceIdRatioBased sampler
// decides: the same trace id gets the same decision in every service. Off unless a ratio is set.
struct sampling_settings {
  std::optional<double> traces;  // spans; a span whose status is ERROR is always kept
  std::optional<double> logs;    // log records with a trace id; ERROR and above always kept
  bool enabled() const { return traces.has_value() || logs.has_value(); }
};

struct intake_settings {
  listener otlp_grpc;
  listener otlp_http;
  listener ndjson;
  sampling_settings sampling;
};

// What a full lane does (see docs/RELIABILITY.md): push back on intake (clients are told to
// retry later; NDJSON streams stop being read) or drop its oldest data.
enum class when_full {
  backpressure_then_drop_oldest,  // push back while the upstream answers; drop during an outage
  drop_oldest,
  backpressure,  // push back always; the queue's bound still holds
};
std::string_view to_string(when_full w);

struct queue_settings {
  std::uint64_t max_bytes = 64ull << 20;
  when_full full = when_full::backpressure_then_drop_oldest;
  std::uint64_t max_items = 0;  // 0: bounded by bytes only
  // Bytes all queues may hold together (queued and in flight) before intake refuses new data
  // explicitly; 0: no such limit, each queue drops its oldest at max_bytes.
  std::uint64_t memory_limit = 0;
};

struct batch_settings {
  std::uint64_t max_items = 8192;
  std::uint64_t max_bytes = 4ull << 20;  // no request upstream is larger
  duration timeout = std::chrono::milliseconds(200);
};

struct tls_settings {
  bool insecure = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
};

struct retry_settings {
  bool enabled = true;
  duration initial_interval = std::chrono::seconds(1);
  duration max_interval = std::chrono::seconds(30);
  double multiplier = 2.0;
  duration max_elapsed_time = std::chrono::minutes(5);  // 0: retry forever
};

struct endpoint {
  enum class scheme { none, http, https, unix_path };
  scheme kind = scheme::none;
  std::string host;
  std::uint16_t port = 0;
  std::string path;      // unix socket path
  std::string url_path;  // http(s) base path without a trailing '/', when allowed (OTLP/HTTP)
  std::string text;      // as configured
};

// An exporter's on-disk spool (off while `dir` is empty): see pipeline/spool.hpp.
struct spool_settings {
  std::string dir;                       // one subdirectory per signal is made in it
  std::uint64_t max_bytes = 1ull << 30;  // per signal; the oldest records go first beyond it
  bool fsync = false;                    // fdatasync each append: survive a power loss too
};

struct otlp_exporter {
  enum class protocol { grpc, http_protobuf };
  enum class compression { none, gzip };

  // How several endpoints share the work: failover sends to the first one that works, in the
  // order given; round_robin takes turns. Either moves on to the next endpoint at once when one
  // fails in a way worth retrying.
  enum class balancing { failover, round_robin };

  std::string name;               // "otlp" or "otlp/<suffix>"
  endpoint target;                // the first (or only) endpoint
  std::vector<endpoint> targets;  // every endpoint, `target` first
  balancing balance = balancing::failover;
  protocol wire = protocol::grpc;
  std::vector<std::pair<std::string, std::string>> headers;
  compression codec = compression::gzip;
  duration timeout = std::chrono::seconds(10);
  tls_settings tls;
  retry_settings retry;
  spool_settings spool;
  // 0 disables keepalive pings (gRPC's default). Servers built on grpc-go refuse pings more often
  // than every 5 minutes unless configured to allow them.
  duration keepalive_time = std::chrono::seconds(0);
  duration keepalive_timeout = std::chrono::seconds(10);
  position where;

  // TLS is used unless the endpoint says http:// or unix:, or tls.insecure is set.
  bool use_tls() const;
};

// The console exporter, and the file exporter, which is the same writing OTLP/JSON lines (by
// default) appended to `path`.
struct console_exporter {
  enum class format { text, json };
  std::string name;
  format style = format::text;
  std::string path;  // empty: standard output
};

struct exporters_settings {
  std::vector<otlp_exporter> otlp;
  std::vector<console_exporter> console;
  bool empty() const { return otlp.empty() && console.empty(); }
};

struct admin_settings {
  std::string listen = "127.0.0.1:13133";  // host:port or unix:PATH; empty disables
};

struct log_settings {
  enum class format { text, json };
  std::string level = "info";
  format style = format::text;
};

struct config {
  std::string source;  // file the config came from
  attributes resource;
  std::string self_service_name = "sidelight";
  heartbeat_settings heartbeat;
  std::vector<target> targets;
  intake_settings intake;
  queue_settings queue;
  batch_settings batch;
  exporters_settings exporters;
  admin_settings admin;
  log_settings log;
  duration shutdown_timeout = std::chrono::seconds(5);

  duration interval_of(const target& t) const { return t.interval.value_or(heartbeat.interval); }
};

std::string_view to_string(target::kind k);

}  // namespace sidelight::config

namespace sidelight::config {

// Equal fingerprints mean a reload can keep the running watcher (or exporter) as it is.
std::string watch_fingerprint(const target& t);
std::string exporter_fingerprint(const otlp_exporter& e);
std::string intake_fingerprint(const intake_settings& in);
// Queue and batch settings: exporters' lanes are rebuilt when they change.
std::string pipeline_fingerprint(const config& c);

}  // namespace sidelight::config
