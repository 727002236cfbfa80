#include "config/otlp_exporter.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "config/schema.hpp"

namespace sidelight::config {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kMissingEndpoint =
    "missing; give the upstream's address, such as collector:4317 (or set "
    "OTEL_EXPORTER_OTLP_ENDPOINT)";

// Parses one endpoint with the protocol's default port (read above it in the table).
void add_endpoint(parse_context& ctx, const position& at, const std::string& path,
                  const std::string& text, otlp_exporter& out) {
  bool http = out.wire == otlp_exporter::protocol::http_protobuf;
  auto parsed = parse_endpoint(text, http ? 4318 : 4317, http);
  if (auto* err = std::get_if<std::string>(&parsed)) return ctx.error(at, path, *err);
  auto e = std::get<endpoint>(parsed);
  for (std::string_view signal_path : {"/v1/traces", "/v1/metrics", "/v1/logs"}) {
    if (e.url_path.ends_with(signal_path)) {
      return ctx.error(at, path,
                       "give the base URL without '" + std::string(signal_path) +
                           "': sidelight appends /v1/traces, /v1/metrics and /v1/logs itself");
    }
  }
  out.targets.push_back(std::move(e));
  out.target = out.targets.front();
}

// One endpoint, or a list of them.
void read_endpoints(const schema::field& f, otlp_exporter& out) {
  auto node = f.node();
  auto& ctx = f.ctx();
  if (!node.IsSequence()) {
    auto text = f.scalar("an endpoint such as collector:4317");
    if (text && text->empty()) return f.error(std::string(kMissingEndpoint));
    if (text) add_endpoint(ctx, ctx.where(node), f.path(), *text, out);
    return;
  }
  if (node.size() == 0) return f.error("an empty list; give at least one endpoint");
  std::size_t i = 0;
  for (auto it = node.begin(); it != node.end(); ++it, ++i) {
    auto item_path = f.path() + "[" + std::to_string(i) + "]";
    if (auto text = ctx.scalar(*it, item_path, "an endpoint such as collector:4317")) {
      add_endpoint(ctx, ctx.where(*it), f.path(), *text, out);
    }
  }
}

// Header names are HTTP tokens and values one line: a CR or LF (percent-decoded from
// OTEL_EXPORTER_OTLP_HEADERS, say) would forge headers or split the request.
std::string header_problem(const std::string& name, const std::string& value) {
  auto is_token = [](unsigned char c) {
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  };
  bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return is_token(static_cast<unsigned char>(c));
  });
  if (!name_ok) {
    return "header '" + name + "': a name may hold only letters, digits and !#$%&'*+-.^_`|~";
  }
  bool value_ok = std::none_of(value.begin(), value.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
  if (value_ok) return "";
  return "header '" + name + "': a value may not hold control characters such as CR or LF";
}

// True when the YAML mapping `section` gives `key`.
bool gives(const YAML::Node& section, std::string_view key) {
  if (!section.IsMap()) return false;
  for (auto it = section.begin(); it != section.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return true;
  }
  return false;
}

void validate_exporter(const map_view& m, otlp_exporter& e) {
  auto& ctx = m.ctx();
  if (!m.has("endpoint")) {
    if (e.target.text.empty()) {
      ctx.error(e.where, m.join("endpoint"), std::string(kMissingEndpoint));
    } else {
      add_endpoint(ctx, e.where, m.join("endpoint"), e.target.text, e);
    }
  }
  for (const auto& [name, value] : e.headers) {
    if (auto why = header_problem(name, value); !why.empty()) {
      if (m.has("headers")) {
        m.error("headers", why);
      } else {
        ctx.error(e.where, m.join("headers"), why);
      }
    }
  }
  // With a spool its byte budget decides what is given up, not time: an outage of any length
  // loses nothing the spool can hold, unless max_elapsed_time is set explicitly.
  if (m.has("spool") && !gives(m.get("retry"), "max_elapsed_time")) {
    e.retry.max_elapsed_time = {};
  }
}

const schema::table<spool_settings>& spool_table() {
  using namespace schema;
  using s = spool_settings;
  static const table<s> keys(
      {
          path_key("dir", &s::dir,
                   "Required: segment files go under <dir>/<exporter>/<signal>/. One process per "
                   "directory (a flock'ed lock file).",
                   absolute("directory path")),
          size_key("max_bytes", &s::max_bytes,
                   "What each signal's spool may hold; the oldest is dropped (queue_full) beyond "
                   "it. It replaces queue.max_bytes as the lane's bound.",
                   {.range = {.min = 1ull << 20}}),
          flag_key("fsync", &s::fsync,
                   "true: fdatasync every request before intake answers the client, to survive "
                   "a power loss too. Requests arriving together share one flush (group "
                   "commit); a lone client pays a disk flush a request."),
      },
      [](const map_view& m, s&) {
        if (!m.has("dir")) m.error("dir", "missing; give an absolute directory path");
      });
  return keys;
}

const schema::table<otlp_exporter>& keepalive_table() {
  using namespace schema;
  using s = otlp_exporter;
  static const table<s> keys({
      duration_key("time", &s::keepalive_time,
                   "gRPC: the HTTP/2 ping interval; HTTP: the TCP keepalive idle time. 0: off. "
                   "Servers built on grpc-go refuse pings more often than every 5 minutes unless "
                   "told to allow them."),
      duration_key("timeout", &s::keepalive_timeout,
                   "The connection is dropped when a ping or probe goes unanswered this long."),
  });
  return keys;
}

}  // namespace

bool otlp_exporter::use_tls() const {
  switch (target.kind) {
    case endpoint::scheme::http:
    case endpoint::scheme::unix_path:
      return false;
    case endpoint::scheme::https:
      return true;
    case endpoint::scheme::none:
      return !tls.insecure;
  }
  return true;
}

bool apply_otel_exporter_env(const env_lookup& env, otlp_exporter& out) {
  if (auto endpoint = env("OTEL_EXPORTER_OTLP_ENDPOINT")) out.target.text = *endpoint;
  if (auto protocol = env("OTEL_EXPORTER_OTLP_PROTOCOL")) {
    if (*protocol == "grpc") out.wire = otlp_exporter::protocol::grpc;
    if (*protocol == "http/protobuf") out.wire = otlp_exporter::protocol::http_protobuf;
  }
  if (auto compression = env("OTEL_EXPORTER_OTLP_COMPRESSION")) {
    out.codec = *compression == "none" ? otlp_exporter::compression::none
                                       : otlp_exporter::compression::gzip;
  }
  if (auto timeout = env("OTEL_EXPORTER_OTLP_TIMEOUT")) {
    std::uint64_t ms = 0;
    auto [p, ec] = std::from_chars(timeout->data(), timeout->data() + timeout->size(), ms);
    if (ec == std::errc() && ms > 0) out.timeout = std::chrono::milliseconds(ms);
  }
  if (auto insecure = env("OTEL_EXPORTER_OTLP_INSECURE")) out.tls.insecure = *insecure == "true";
  if (auto certificate = env("OTEL_EXPORTER_OTLP_CERTIFICATE")) out.tls.ca_file = *certificate;
  bool ok = true;
  if (auto headers = env("OTEL_EXPORTER_OTLP_HEADERS")) {
    out.headers = parse_key_value_list(*headers, ok);
  }
  return ok;
}

const schema::table<otlp_exporter>& otlp_exporter_table() {
  using namespace schema;
  using s = otlp_exporter;
  static const table<s> keys(
      {
          choice_key("protocol", &s::wire,
                     {{"grpc", s::protocol::grpc}, {"http/protobuf", s::protocol::http_protobuf}},
                     "OTLP/gRPC (port 4317 when the endpoint names none) or OTLP/HTTP with "
                     "protobuf bodies (port 4318)."),
          custom_key<s>(
              "endpoint", {.type = "endpoint, or a list of them"},
              "Required (or OTEL_EXPORTER_OTLP_ENDPOINT): HOST:PORT (TLS unless tls.insecure), "
              "http://HOST:PORT (plaintext), https://HOST:PORT or unix:/path. For http/protobuf "
              "a base URL such as https://otlp.example/otlp, to which /v1/traces, /v1/metrics "
              "and /v1/logs are appended. A list ([a:4317, b:4317]) shares the work as "
              "balancing says.",
              read_endpoints),
          choice_key(
              "balancing", &s::balance,
              {{"failover", s::balancing::failover}, {"round_robin", s::balancing::round_robin}},
              "With several endpoints: failover sends every request to the first that "
              "works, in the order given; round_robin takes turns. A request moves on at "
              "once to the next endpoint when one fails in a way worth retrying, and that "
              "one is set aside for 5s (or its Retry-After)."),
          string_map_key("headers", &s::headers,
                         "Sent with every request, e.g. { authorization: \"Bearer "
                         "${env:TOKEN}\" }."),
          choice_key("compression", &s::codec,
                     {{"gzip", s::compression::gzip}, {"none", s::compression::none}},
                     "gzip at zlib's fastest level, or none."),
          duration_key("timeout", &s::timeout,
                       "Per export request: connecting, sending and the answer together.",
                       {.range = {.positive = true}}),
          section_key("tls", &s::tls, tls_table(),
                      "TLS 1.2 at least; the server's certificate and name are verified."),
          section_key("retry", &s::retry, retry_table(),
                      "Failed exports wait initial_interval, then multiplier times longer each "
                      "time, up to max_interval."),
          section_via<s>(
              "keepalive", [](auto& e) -> auto& { return e; }, keepalive_table(),
              "Keepalive of idle connections, off by default."),
          section_key("spool", &s::spool, spool_table(),
                      "Off unless set: every request this exporter queues is first appended to "
                      "segment files, before intake answers the client, and read back from there "
                      "to be sent; it survives a restart and is sent first."),
      },
      validate_exporter);
  return keys;
}

}  // namespace sidelight::config
