#include "config/intake.hpp"

#include "config/address.hpp"
#include "config/schema.hpp"

namespace sidelight::config {
namespace {

using namespace std::chrono_literals;

std::string tcp_problem(const std::string& text) {
  std::string host;
  std::uint16_t port = 0;
  if (split_host_port(text, host, port)) return "";
  return "expected HOST:PORT such as 127.0.0.1:4317, got '" + text + "'";
}

// The keys every listener takes.
std::vector<schema::key<listener>> common_keys() {
  using namespace schema;
  using s = listener;
  return {
      path_key("unix", &s::unix_path,
               "A stream socket. Its directory is created (0755), and must belong to root or "
               "sidelight's user and not be writable by group or others unless sticky (like "
               "/tmp). A stale socket is replaced; a live one (another process answers) or a "
               "path that is not a socket is an error (exit 2). The socket is made in a private "
               "directory with its mode and group and renamed into place: no link is followed.",
               socket_path()),
      mode_key("mode", &s::mode, "The socket file's permissions."),
      text_key("group", &s::group, "The socket file's group; default: sidelight's own."),
      size_key("max_message_size", &s::max_message_size,
               "The largest gRPC message, HTTP body (after gzip) or NDJSON line taken.",
               {.range = {.min = 1ull << 10, .max = 256ull << 20}}),
      count_key("max_connections", &s::max_connections,
                "Connections open at once; at the cap, the one idle the longest is closed to make "
                "room.",
                {.range = {.min = 1, .max = 65536}}),
      duration_key("idle_timeout", &s::idle_timeout,
                   "A connection with nothing to do is closed after this long."),
  };
}

template <class... More>
std::vector<schema::key<listener>> listener_keys(More... more) {
  auto keys = common_keys();
  (keys.push_back(std::move(more)), ...);
  return keys;
}

// OTLP listeners also take a TCP port; `help` says what it carries. NDJSON has none: over TCP
// the sender's process, which enrichment and the logs rely on, is unknown.
schema::key<listener> tcp_key(std::string_view help) {
  return schema::text_key("tcp", &listener::tcp, help, {.check = tcp_problem});
}

const schema::table<listener>& otlp_grpc_table() {
  static const schema::table<listener> keys(listener_keys(
      tcp_key("HOST:PORT, opt-in TCP for clients that cannot use a Unix socket (the Java SDK, "
              "say); give a loopback address: over TCP the sender's process is unknown."),
      schema::count_key("max_concurrent_streams", &listener::max_concurrent_streams,
                        "The calls one connection may have open at once (the HTTP/2 "
                        "SETTINGS_MAX_CONCURRENT_STREAMS announced). A client's further calls "
                        "wait on its side for a free stream, and none fails for it; so one "
                        "connection can make sidelight hold at most this many requests of "
                        "max_message_size before intake reads them.",
                        {.range = {.min = 1, .max = 1024}})));
  return keys;
}

const schema::table<listener>& otlp_http_table() {
  static const schema::table<listener> keys(
      listener_keys(tcp_key("HOST:PORT, opt-in loopback TCP, as for otlp_grpc.")));
  return keys;
}

const schema::table<listener>& ndjson_table() {
  static const schema::table<listener> keys(listener_keys(
      schema::path_key("unix_datagram", &listener::unix_datagram,
                       "A datagram socket: one object (or several lines) per datagram, the "
                       "sender known through SCM_CREDENTIALS (and SCM_PIDFD on Linux 6.5+) by "
                       "its PID and start time.",
                       schema::socket_path()),
      schema::count_key("threads", &listener::threads,
                        "Threads that decode stream connections' lines; each connection is "
                        "handled by one of them, so several busy writers are decoded at once. "
                        "Datagrams are read on the intake thread. Above 1, malloc may keep an "
                        "arena per thread (a little more memory, no lock shared while decoding). "
                        "Changes take effect at the next start.",
                        {.range = {.min = 1, .max = 64}})));
  return keys;
}

const schema::table<sampling_settings>& sampling_table() {
  using namespace schema;
  using s = sampling_settings;
  static const table<s> keys({
      number_key("traces", &s::traces,
                 "The share of traces kept (0.25: a quarter), by trace id as OpenTelemetry's "
                 "TraceIdRatioBased sampler decides, so every service decides alike. A span "
                 "whose status is ERROR is always kept. Off unless set.",
                 {.range = {.min = 0.0, .max = 1.0}}),
      number_key("logs", &s::logs,
                 "The same for log records with a trace id; records of severity ERROR and above, "
                 "and records without a trace id, are always kept. Off unless set.",
                 {.range = {.min = 0.0, .max = 1.0}}),
  });
  return keys;
}

}  // namespace

const schema::table<intake_settings>& intake_table() {
  using namespace schema;
  using s = intake_settings;
  static const table<s> keys({
      section_key("otlp_grpc", &s::otlp_grpc, otlp_grpc_table(),
                  "OTLP/gRPC: TraceService, LogsService, MetricsService. For an SDK: "
                  "OTEL_EXPORTER_OTLP_ENDPOINT=unix:///run/sidelight/otlp.sock with "
                  "OTEL_EXPORTER_OTLP_INSECURE=true."),
      section_key("otlp_http", &s::otlp_http, otlp_http_table(),
                  "OTLP/HTTP: POST /v1/traces, /v1/logs, /v1/metrics; protobuf or OTLP/JSON, gzip "
                  "allowed."),
      section_key("ndjson", &s::ndjson, ndjson_table(),
                  "NDJSON: one JSON object per line, a log record as structured loggers write "
                  "it, or {\"span\": {...}}."),
      size_key("max_buffered_bytes", &s::max_buffered_bytes,
               "What OTLP/HTTP and NDJSON client connections may hold together in requests and "
               "lines still being read, beyond 64 KiB each (which ordinary requests fit in). A "
               "request or line it cannot cover is refused part-read and counted as rejected "
               "(HTTP 429 with Retry-After: 1; NDJSON: the line), so that many slow senders "
               "cannot make sidelight grow. OTLP/gRPC connections buffer inside gRPC, whose "
               "memory quota is set to this too: near it, gRPC refuses or resets calls "
               "(RESOURCE_EXHAUSTED, UNAVAILABLE) and closes connections. Applied at reload. 0: "
               "no such limit."),
      section_key("sampling", &s::sampling, sampling_table(),
                  "Head sampling of client telemetry, off unless a ratio is given. Applies on "
                  "reload."),
  });
  return keys;
}

}  // namespace sidelight::config
