#include "config/targets.hpp"

#include <pwd.h>
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "config/address.hpp"
#include "config/schema.hpp"

namespace sidelight::config {
namespace {

using namespace std::chrono_literals;

const std::vector<std::pair<std::string_view, target::kind>> kIdentities = {
    {"pid", target::kind::pid},
    {"pidfile", target::kind::pidfile},
    {"process", target::kind::process},
    {"systemd_unit", target::kind::systemd_unit},
    {"socket", target::kind::socket}};

std::string comm_problem(const std::string& comm) {
  if (comm.empty()) return "must not be empty";
  if (comm.size() <= 15) return "";
  return "'" + comm +
         "' is longer than 15 characters and can never equal /proc/PID/comm (the kernel "
         "truncates it); match on exe or cmdline instead";
}

void read_cmdline(const schema::field& f, process_match& out) {
  auto pattern = f.scalar("a regular expression");
  if (!pattern) return;
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(*pattern, options);
  if (!re->ok()) return f.error("not a valid regular expression: " + re->error());
  out.cmdline = *pattern;
  out.cmdline_re = std::move(re);
}

void read_user(const schema::field& f, process_match& out) {
  auto user = f.scalar("a user name or uid");
  if (!user) return;
  uid_t uid = 0;
  auto [p, ec] = std::from_chars(user->data(), user->data() + user->size(), uid);
  if (!user->empty() && ec == std::errc() && p == user->data() + user->size()) {
    out.uid = uid;
  } else if (struct passwd* pw = getpwnam(user->c_str())) {
    out.uid = pw->pw_uid;
  } else {
    f.error("no user named '" + *user + "' on this machine (give a user name or a uid)");
  }
}

const schema::table<process_match>& process_table() {
  using namespace schema;
  using s = process_match;
  static const table<s> keys(
      {
          text_key("comm", &s::comm,
                   "Equals /proc/PID/comm, which the kernel truncates to 15 characters.",
                   {.check = comm_problem}),
          text_key("exe", &s::exe,
                   "The executable's base name or full path; when /proc/PID/exe cannot be read "
                   "(another user's process), argv[0] stands in.",
                   {.check = not_empty()}),
          custom_key<s>("cmdline", {.type = "RE2 regular expression"},
                        "Searched in the arguments joined by single spaces.", read_cmdline),
          custom_key<s>("user", {.type = "user name or uid"}, "The process's real user.",
                        read_user),
      },
      [](const map_view& m, s&) {
        if (m.entries().empty()) {
          m.error("give at least one of " + join_words(process_table().names()) +
                  " to match processes");
        }
      });
  return keys;
}

const schema::table<crash_loop_settings>& crash_loop_table() {
  using namespace schema;
  using s = crash_loop_settings;
  static const table<s> keys({
      count_key("restarts", &s::restarts,
                "How many restarts (instances that ended, for process:) within the window make "
                "service.status crash_loop.",
                {.range = {.min = 1, .max = 100000}}),
      duration_key("window", &s::window, "The window the restarts are counted in.",
                   {.range = {.min = 1s}}),
  });
  return keys;
}

void read_socket_tcp(const schema::field& f, socket_check& out) {
  auto text = f.scalar("HOST:PORT");
  if (!text) return;
  std::string host;
  if (!split_host_port(*text, host, out.port)) {
    return f.error("expected HOST:PORT such as 127.0.0.1:6379 or [::1]:6379, got '" + *text + "'");
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host == "*" || host == "0.0.0.0" || host == "::") host.clear();
  if (!host.empty() && !is_ip_literal(host)) {
    return f.error("expected an IP address (or localhost or *), got '" + host + "'");
  }
  out.host = host;
}

// The longest `expect`: the answer is read up to kExpectWindow bytes, which must hold it.
constexpr std::size_t kMaxExpect = 1024;

void validate_socket(const map_view& m, socket_check& s) {
  bool tcp = m.has("tcp");
  bool unix_path = m.has("unix");
  if (tcp && unix_path) {
    m.ctx().error(m.key_node("unix"), m.path(), "give either tcp or unix, not both");
  } else if (!tcp && !unix_path) {
    m.error("give tcp: HOST:PORT or unix: PATH");
  }
  s.kind = unix_path ? socket_check::family::unix_path : socket_check::family::tcp;
  for (const char* key : {"send", "expect"}) {
    if (m.has(key) && s.check != socket_check::method::connect) {
      m.error_at_key(key, std::string(key) + " needs check: connect (listen never connects)");
    }
  }
  // Connecting is noticed by the service; probe it less often unless told otherwise.
  if (!m.has("probe_interval") && s.check == socket_check::method::connect) {
    s.probe_interval = 5s;
  }
}

const schema::table<socket_check>& socket_table() {
  using namespace schema;
  using s = socket_check;
  static const table<s> keys(
      {
          custom_key<s>("tcp", {.type = "HOST:PORT"},
                        "A TCP socket: an IP address (localhost, or * for any local address) and "
                        "a port.",
                        read_socket_tcp),
          path_key("unix", &s::path, "A Unix socket (instead of tcp).", socket_path()),
          choice_key("check", &s::check,
                     {{"listen", s::method::listen}, {"connect", s::method::connect}},
                     "listen: is the socket listening, from the kernel's socket tables (never "
                     "connects, so the service sees nothing); connect: connects every "
                     "probe_interval and reports service.probe.duration."),
          duration_key("timeout", &s::timeout,
                       "check: connect gives up on a connection after this long."),
          duration_key("probe_interval", &s::probe_interval, "How often the socket is checked.",
                       {.range = {.min = 50ms}, .fallback = "500ms (listen), 5s (connect)"}),
          text_key("send", &s::send,
                   "check: connect writes this once connected (YAML escapes such as \"PING\\r\\n\" "
                   "work in double quotes).",
                   {.check = not_empty()}),
          text_key("expect", &s::expect,
                   "check: connect then needs the answer's first 4 KiB to hold this string within "
                   "timeout; when it does not, the target is degraded (alive, but not answering), "
                   "not down.",
                   {.check =
                        [](const std::string& e) {
                          if (e.empty()) return std::string("must not be empty");
                          if (e.size() <= kMaxExpect) return std::string();
                          return "must be at most " + std::to_string(kMaxExpect) + " bytes";
                        }}),
      },
      validate_socket);
  return keys;
}

// The request line and Host header are built from these: printable ASCII without spaces only.
bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// http://HOST[:PORT][/PATH]. HOST is an IP literal or localhost, so the event loop never waits
// on a resolver; https is refused, as probes have no TLS client.
void read_probe_url(const schema::field& f, http_probe& out) {
  auto text = f.scalar("an http:// URL");
  if (!text) return;
  std::string_view rest = *text;
  if (rest.starts_with("https://")) {
    return f.error(
        "https is not supported for probes (they have no TLS client); probe an "
        "http:// URL instead of '" +
        *text + "'");
  }
  if (!rest.starts_with("http://") || !printable(rest)) {
    return f.error("expected an http:// URL such as http://127.0.0.1:8080/healthz, got '" + *text +
                   "'");
  }
  rest.remove_prefix(7);
  rest = rest.substr(0, rest.find('#'));
  auto end = std::min(rest.find('/'), rest.find('?'));
  std::string_view authority = rest.substr(0, end);
  std::string path(end == std::string_view::npos ? "/" : rest.substr(end));
  if (path.front() == '?') path.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) {
    return f.error("credentials in a probe URL are not supported, got '" + *text + "'");
  }
  std::string host;
  std::uint16_t port = 80;
  if (!split_host_port(authority, host, port)) {
    bool bracketed = authority.starts_with("[") && authority.ends_with("]");
    if (authority.find(':') != std::string_view::npos && !bracketed) {
      return f.error("expected http://HOST[:PORT]/PATH, got '" + *text + "'");
    }
    host = std::string(bracketed ? authority.substr(1, authority.size() - 2) : authority);
  }
  std::string address = host == "localhost" ? "127.0.0.1" : host;
  if (!is_ip_literal(address)) {
    return f.error(
        "expected an IP address or localhost in the URL (host names are not "
        "resolved), got '" +
        host + "'");
  }
  out = {.url = *text,
         .address = address,
         .port = port,
         .host = std::string(authority),
         .path = path,
         .expect_status = out.expect_status,
         .timeout = out.timeout,
         .interval = out.interval};
}

const schema::table<http_probe>& http_probe_table() {
  using namespace schema;
  using s = http_probe;
  static const table<s> keys(
      {
          custom_key<s>(
              "url", {.type = "http:// URL"},
              "Required: GET this every interval, e.g. http://127.0.0.1:8080/healthz. The "
              "host is an IP address or localhost (names are not resolved); https is "
              "not supported.",
              read_probe_url),
          count_key("expect_status", &s::expect_status, "The HTTP status a healthy answer has.",
                    {.range = {.min = 100, .max = 599}}),
          duration_key("timeout", &s::timeout,
                       "Connecting, sending the request and reading the answer's header must all "
                       "be done within this.",
                       {.range = {.min = 10ms}}),
          duration_key("interval", &s::interval, "How often the probe runs.",
                       {.range = {.min = 100ms}, .fallback = "the target's interval"}),
      },
      [](const map_view& m, s&) {
        if (!m.has("url")) m.error("give url: the http:// URL to probe");
      });
  return keys;
}

std::string unit_problem(const std::string& unit) {
  if (!unit.empty() && unit.find('/') == std::string::npos) return "";
  return "expected a unit name such as nginx.service, got '" + unit + "'";
}

// A container name in a pod spec is an RFC 1123 label.
std::string container_name_problem(const std::string& s) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = !s.empty() && s.size() <= 63 && alnum(s.front()) && alnum(s.back()) &&
            std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
  if (ok) return "";
  return "expected a Kubernetes container name: at most 63 lowercase letters, digits and '-', "
         "starting and ending with a letter or digit";
}

void validate_target(const map_view& m, target& t) {
  t.where = m.ctx().where(m.node());
  if (!m.has("name")) m.error("missing 'name' (it becomes service.name)");
  std::vector<std::pair<std::string_view, target::kind>> given;
  for (const auto& id : kIdentities) {
    if (m.has(id.first)) given.push_back(id);
  }
  std::string label = t.name.empty() ? "this target" : "target '" + t.name + "'";
  if (given.empty()) {
    return m.error(label + " has no identity; give exactly one of pid, pidfile, process, " +
                   "systemd_unit, socket");
  }
  if (given.size() > 1) {
    m.error_at_key(given[1].first, label + " has two identities (" + std::string(given[0].first) +
                                       " and " + std::string(given[1].first) +
                                       "); give exactly one");
  }
  t.identity = given[0].second;
  if (t.http.enabled() && t.identity == target::kind::socket &&
      t.socket.check == socket_check::method::connect) {
    m.error_at_key("http", label +
                               " probes already with socket check: connect; use check: listen "
                               "beside http, or send/expect in the socket check");
  }
  if (t.systemd_unit.find('.') == std::string::npos && !t.systemd_unit.empty()) {
    t.systemd_unit += ".service";
  }
}

}  // namespace

std::string_view to_string(target::kind k) {
  for (const auto& [name, kind] : kIdentities) {
    if (kind == k) return name;
  }
  return "?";
}

const schema::table<target>& target_table() {
  using namespace schema;
  using s = target;
  static const table<s> keys(
      {
          text_key("name", &s::name, "Required: the target's service.name.",
                   {.check = not_empty()}),
          text_key("version", &s::version, "Its service.version."),
          duration_key("interval", &s::interval, "Overrides heartbeat.interval for this target.",
                       {.range = {.min = 1s}, .fallback = "heartbeat.interval"}),
          attributes_key("resource", &s::resource,
                         "Resource attributes for this target, added to the top-level resource."),
          flag_key("process_metrics", &s::process_metrics,
                   "Export process.cpu.time, process.memory.usage and the like for each "
                   "instance."),
          text_key("container_name", &s::container_name,
                   "In a Kubernetes pod: the pod spec's container that runs this target, sent as "
                   "k8s.container.name.",
                   {.check = container_name_problem}),
          count_key("min_instances", &s::min_instances,
                    "Live instances the target needs; with fewer it is down.",
                    {.range = {.min = 1, .max = 100000}}),
          section_key("crash_loop", &s::crash_loop, crash_loop_table(),
                      "When instances restart so often that the target is in a crash loop."),
          section_key("http", &s::http, http_probe_table(),
                      "A probe over HTTP, for any kind of target: while it fails, a live target "
                      "is degraded (alive, but not answering), not down."),
          count_key("pid", &s::pid,
                    "Identity: that process, pinned; another process that later gets its PID is "
                    "never taken for it, and it is never restarted, only down.",
                    {.range = {.min = 1, .max = 4194304}, .fallback = ""}),
          path_key("pidfile", &s::pidfile,
                   "Identity: the process the file names now, re-read when the file changes. A "
                   "FIFO, a directory, a device, over 64 bytes, or naming PID 1, a kernel thread "
                   "or sidelight itself is refused (the target is down, a warning logged).",
                   absolute("file path")),
          section_key("process", &s::process, process_table(),
                      "Identity: every process matching all the fields given, each an instance "
                      "with its own service.instance.id."),
          text_key("systemd_unit", &s::systemd_unit,
                   "Identity: the oldest process in the unit's cgroup; \".service\" is implied.",
                   {.check = unit_problem}),
          section_key("socket", &s::socket, socket_table(),
                      "Identity: the process owning the listening socket, tcp or unix."),
      },
      validate_target);
  return keys;
}

void resolve_probe_interval(target& t, duration heartbeat_interval) {
  if (t.http.enabled() && !t.http.interval)
    t.http.interval = t.interval.value_or(heartbeat_interval);
}

void check_unique_names(const schema::field& f, std::vector<target>& targets) {
  std::unordered_map<std::string, int> seen;  // name → line
  std::size_t i = 0;
  auto list = f.node();
  for (auto it = list.begin(); it != list.end() && i < targets.size(); ++it, ++i) {
    const YAML::Node item = *it;
    if (!item.IsMap() || targets[i].name.empty()) continue;
    const YAML::Node name = item["name"];
    auto [first, fresh] = seen.emplace(targets[i].name, f.ctx().where(name).line);
    if (!fresh) {
      f.ctx().error(name, f.path() + "[" + std::to_string(i) + "].name",
                    "duplicate target name '" + targets[i].name + "' (first used at line " +
                        std::to_string(first->second) + ")");
    }
  }
}

}  // namespace sidelight::config
