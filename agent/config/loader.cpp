#include "config/loader.hpp"

#include <arpa/inet.h>
#include <pwd.h>
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "config/units.hpp"

namespace sidelight::config {
namespace {

using namespace std::string_literals;

// Where problems go while one file is read, and how scalars get their `${env:…}` expanded.
class parse_context {
 public:
  parse_context(std::string file, const env_lookup& env, std::vector<problem>& problems)
      : file_(std::move(file)), env_(env), problems_(problems) {}

  position where(const YAML::Node& node) const {
    if (!node.IsDefined()) return {file_, 0, 0};
    auto m = node.Mark();
    if (m.line < 0) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }

  void error(const position& at, const std::string& path, const std::string& message) {
    problems_.push_back(
        {problem::severity::error, at, path.empty() ? message : path + ": " + message});
  }
  void error(const YAML::Node& at, const std::string& path, const std::string& message) {
    error(where(at), path, message);
  }
  void warning(const YAML::Node& at, const std::string& path, const std::string& message) {
    problems_.push_back({problem::severity::warning, where(at), path + ": " + message});
  }

  // The scalar's text with variables expanded; reports and returns nullopt when `node` is not a
  // scalar or the expansion is malformed.
  std::optional<std::string> scalar(const YAML::Node& node, const std::string& path,
                                    std::string_view expected) {
    if (!node.IsScalar()) {
      error(node, path, "expected "s + std::string(expected) + ", got " + describe(node));
      return std::nullopt;
    }
    auto ex = expand_env(node.Scalar(), env_);
    if (!ex.error.empty()) {
      error(node, path, ex.error);
      return std::nullopt;
    }
    for (const auto& name : ex.unset) {
      warning(node, path, "environment variable " + name + " is not set; using an empty value");
    }
    return ex.value;
  }

  static std::string describe(const YAML::Node& node) {
    switch (node.Type()) {
      case YAML::NodeType::Map:
        return "a mapping";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Null:
        return "nothing";
      case YAML::NodeType::Scalar:
        return "'" + node.Scalar() + "'";
      default:
        return "nothing";
    }
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  const env_lookup& env_;
  std::vector<problem>& problems_;
};

// One YAML mapping whose keys are checked against what the schema allows: unknown keys are
// reported with a did-you-mean, duplicate keys are reported, a null node reads as empty.
class map_view {
 public:
  map_view(parse_context& ctx, const YAML::Node& node, std::string path,
           std::vector<std::string_view> allowed)
      : ctx_(ctx), node_(node), path_(std::move(path)) {
    if (node.IsNull() || !node.IsDefined()) return;
    if (!node.IsMap()) {
      ctx.error(node, path_, "expected a mapping, got " + parse_context::describe(node));
      valid_ = false;
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      YAML::Node key = it->first;  // a copy: the iterator hands out temporaries
      if (!key.IsScalar()) {
        ctx.error(key, path_, "keys must be plain strings");
        continue;
      }
      const std::string& name = key.Scalar();
      if (entries_.count(name)) {
        ctx.error(key, join(name),
                  "duplicate key (first given at line " +
                      std::to_string(ctx.where(entries_[name].first).line) + ")");
        continue;
      }
      entries_[name] = {key, it->second};
      order_.push_back(name);
      if (!allowed.empty() &&
          std::find(allowed.begin(), allowed.end(), std::string_view(name)) == allowed.end()) {
        auto hint = did_you_mean(name, allowed);
        ctx.error(key, join(name),
                  "unknown key" + (hint ? "; did you mean '" + *hint + "'?" : ""s) +
                      " (allowed here: " + list(allowed) + ")");
        entries_.erase(name);
        order_.pop_back();
      }
    }
  }

  bool valid() const { return valid_; }
  bool has(std::string_view key) const { return entries_.count(std::string(key)) > 0; }
  YAML::Node get(std::string_view key) const {
    auto it = entries_.find(std::string(key));
    return it == entries_.end() ? YAML::Node(YAML::NodeType::Undefined) : it->second.second;
  }
  YAML::Node key_node(std::string_view key) const {
    auto it = entries_.find(std::string(key));
    return it == entries_.end() ? node_ : it->second.first;
  }
  const std::vector<std::string>& keys() const { return order_; }
  std::string join(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  parse_context& ctx() const { return ctx_; }

  // Typed readers: leave `out` untouched when the key is absent, report when it is malformed.
  // Typed readers return true when the key was present and its value was taken.
  bool read(std::string_view key, std::string& out) const {
    if (!has(key)) return false;
    auto s = ctx_.scalar(get(key), join(key), "a string");
    if (s) out = *s;
    return s.has_value();
  }
  bool read(std::string_view key, bool& out) const {
    if (!has(key)) return false;
    auto s = ctx_.scalar(get(key), join(key), "true or false");
    if (!s) return false;
    if (*s == "true" || *s == "True" || *s == "TRUE") {
      out = true;
    } else if (*s == "false" || *s == "False" || *s == "FALSE") {
      out = false;
    } else {
      ctx_.error(get(key), join(key), "expected true or false, got '" + *s + "'");
      return false;
    }
    return true;
  }
  bool read(std::string_view key, duration& out) const {
    if (!has(key)) return false;
    auto s = ctx_.scalar(get(key), join(key), "a duration like 250ms, 15s or 2m");
    if (!s) return false;
    auto d = parse_duration(*s);
    if (!d) {
      ctx_.error(get(key), join(key),
                 "expected a duration like 250ms, 15s or 2m, got '" + *s + "'");
      return false;
    }
    out = *d;
    return true;
  }
  bool read_size(std::string_view key, std::uint64_t& out) const {
    if (!has(key)) return false;
    auto s = ctx_.scalar(get(key), join(key), "a size like 64MiB");
    if (!s) return false;
    auto v = parse_size(*s);
    if (!v) {
      ctx_.error(get(key), join(key),
                 "expected a size like 512KiB, 64MiB or 1GB, got '" + *s + "'");
      return false;
    }
    out = *v;
    return true;
  }
  bool read_count(std::string_view key, std::uint64_t& out) const {
    if (!has(key)) return false;
    auto s = ctx_.scalar(get(key), join(key), "a whole number");
    if (!s) return false;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc() || p != s->data() + s->size()) {
      ctx_.error(get(key), join(key), "expected a whole number, got '" + *s + "'");
      return false;
    }
    out = v;
    return true;
  }
  // A whole number from `lo` to `hi`; `out` keeps its default when the key is absent or wrong.
  void read_count_between(std::string_view key, std::uint32_t& out, std::uint32_t lo,
                          std::uint32_t hi) const {
    std::uint64_t v = out;
    if (!read_count(key, v)) return;
    if (v < lo || v > hi) {
      ctx_.error(key_node(key), join(key),
                 "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      return;
    }
    out = static_cast<std::uint32_t>(v);
  }
  // One of `choices`; returns its index.
  std::optional<std::size_t> read_choice(std::string_view key,
                                         const std::vector<std::string_view>& choices) const {
    if (!has(key)) return std::nullopt;
    auto s = ctx_.scalar(get(key), join(key), "one of " + list(choices));
    if (!s) return std::nullopt;
    for (std::size_t i = 0; i < choices.size(); ++i) {
      if (*s == choices[i]) return i;
    }
    auto hint = did_you_mean(*s, choices);
    ctx_.error(get(key), join(key),
               "expected one of " + list(choices) + ", got '" + *s + "'" +
                   (hint ? "; did you mean '" + *hint + "'?" : ""s));
    return std::nullopt;
  }

  static std::string list(const std::vector<std::string_view>& words) {
    std::string out;
    for (auto w : words) {
      if (!out.empty()) out += ", ";
      out += w;
    }
    return out;
  }

 private:
  parse_context& ctx_;
  YAML::Node node_;
  std::string path_;
  bool valid_ = true;
  std::map<std::string, std::pair<YAML::Node, YAML::Node>> entries_;
  std::vector<std::string> order_;
};

// Unquoted YAML scalars keep their type (true, 42, 1.5); quoted ones are strings.
attribute_value typed_scalar(const YAML::Node& node, const std::string& text) {
  if (node.Tag() == "!") return text;
  if (text == "true") return true;
  if (text == "false") return false;
  std::int64_t i = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
  if (ec == std::errc() && p == text.data() + text.size() && !text.empty()) return i;
  if (!text.empty() && text.find_first_not_of("+-0123456789.eE") == std::string::npos) {
    double d = 0;
    auto [q, ec2] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec2 == std::errc() && q == text.data() + text.size()) return d;
  }
  return text;
}

void read_attributes(parse_context& ctx, const YAML::Node& node, const std::string& path,
                     attributes& out) {
  map_view m(ctx, node, path, {});
  if (!m.valid()) return;
  for (const auto& key : m.keys()) {
    auto value = m.get(key);
    if (!value.IsScalar()) {
      ctx.error(value, m.join(key),
                "expected a string, number or boolean, got " + parse_context::describe(value));
      continue;
    }
    auto text = ctx.scalar(value, m.join(key), "a value");
    if (!text) continue;
    auto typed = typed_scalar(value, *text);
    auto existing = std::find_if(out.begin(), out.end(), [&](auto& kv) { return kv.first == key; });
    if (existing != out.end()) {
      existing->second = typed;
    } else {
      out.emplace_back(key, typed);
    }
  }
}

void read_string_map(parse_context& ctx, const YAML::Node& node, const std::string& path,
                     std::vector<std::pair<std::string, std::string>>& out) {
  map_view m(ctx, node, path, {});
  if (!m.valid()) return;
  for (const auto& key : m.keys()) {
    std::string value;
    m.read(key, value);
    auto existing = std::find_if(out.begin(), out.end(), [&](auto& kv) { return kv.first == key; });
    if (existing != out.end()) {
      existing->second = value;
    } else {
      out.emplace_back(key, value);
    }
  }
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// "host:port" or "[v6]:port"; the host may be empty ("":port or "*:port").
bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view h;
  std::string_view p;
  if (text.starts_with("[")) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) return false;  // bare IPv6 needs brackets
  }
  host = std::string(h);
  return parse_port(p, port) && port != 0;
}

void read_target_process(map_view& t, target& out) {
  auto& ctx = t.ctx();
  map_view m(ctx, t.get("process"), t.join("process"), {"comm", "exe", "cmdline", "user"});
  if (!m.valid()) return;
  if (m.keys().empty()) {
    ctx.error(t.get("process"), t.join("process"),
              "give at least one of comm, exe, cmdline, user to match processes");
    return;
  }
  auto& pm = out.process;
  if (m.has("comm")) {
    std::string comm;
    m.read("comm", comm);
    if (comm.size() > 15) {
      ctx.error(m.get("comm"), m.join("comm"),
                "'" + comm +
                    "' is longer than 15 characters and can never equal /proc/PID/comm (the kernel "
                    "truncates it); match on exe or cmdline instead");
    } else if (comm.empty()) {
      ctx.error(m.get("comm"), m.join("comm"), "must not be empty");
    }
    pm.comm = comm;
  }
  if (m.has("exe")) {
    std::string exe;
    m.read("exe", exe);
    if (exe.empty()) ctx.error(m.get("exe"), m.join("exe"), "must not be empty");
    pm.exe = exe;
  }
  if (m.has("cmdline")) {
    std::string pattern;
    m.read("cmdline", pattern);
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_shared<const RE2>(pattern, options);
    if (!re->ok()) {
      ctx.error(m.get("cmdline"), m.join("cmdline"),
                "not a valid regular expression: " + re->error());
    } else {
      pm.cmdline = pattern;
      pm.cmdline_re = std::move(re);
    }
  }
  if (m.has("user")) {
    std::string user;
    m.read("user", user);
    uid_t uid = 0;
    auto [p, ec] = std::from_chars(user.data(), user.data() + user.size(), uid);
    if (!user.empty() && ec == std::errc() && p == user.data() + user.size()) {
      pm.uid = uid;
    } else if (struct passwd* pw = getpwnam(user.c_str())) {
      pm.uid = pw->pw_uid;
    } else {
      ctx.error(m.get("user"), m.join("user"),
                "no user named '" + user + "' on this machine (give a user name or a uid)");
    }
  }
}

void read_target_socket(map_view& t, target& out) {
  auto& ctx = t.ctx();
  map_view m(ctx, t.get("socket"), t.join("socket"),
             {"tcp", "unix", "check", "timeout", "probe_interval"});
  if (!m.valid()) return;
  auto& s = out.socket;
  bool tcp = m.has("tcp");
  bool unix_path = m.has("unix");
  if (tcp == unix_path) {
    ctx.error(tcp ? m.key_node("unix") : t.get("socket"), t.join("socket"),
              tcp ? "give either tcp or unix, not both" : "give tcp: HOST:PORT or unix: PATH");
    return;
  }
  if (auto c = m.read_choice("check", {"listen", "connect"})) {
    s.check = *c == 0 ? socket_check::method::listen : socket_check::method::connect;
  }
  // Connecting is noticed by the service; probe it less often unless told otherwise.
  s.probe_interval = s.check == socket_check::method::listen ? std::chrono::milliseconds(500)
                                                             : std::chrono::seconds(5);
  m.read("timeout", s.timeout);
  m.read("probe_interval", s.probe_interval);
  if (m.has("probe_interval") && s.probe_interval < std::chrono::milliseconds(50)) {
    ctx.error(m.get("probe_interval"), m.join("probe_interval"), "must be at least 50ms");
  }
  if (unix_path) {
    s.kind = socket_check::family::unix_path;
    m.read("unix", s.path);
    if (!s.path.starts_with("/")) {
      ctx.error(m.get("unix"), m.join("unix"), "expected an absolute socket path");
    }
    return;
  }
  s.kind = socket_check::family::tcp;
  std::string text;
  m.read("tcp", text);
  std::string host;
  if (!split_host_port(text, host, s.port)) {
    ctx.error(m.get("tcp"), m.join("tcp"),
              "expected HOST:PORT such as 127.0.0.1:6379 or [::1]:6379, got '" + text + "'");
    return;
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host == "*" || host == "0.0.0.0" || host == "::") host.clear();
  if (!host.empty() && !is_ip_literal(host)) {
    ctx.error(m.get("tcp"), m.join("tcp"),
              "expected an IP address (or localhost or *), got '" + host + "'");
  }
  s.host = host;
}

const std::vector<std::string_view> kIdentities = {"pid", "pidfile", "process", "systemd_unit",
                                                   "socket"};

// A container name in a pod spec is an RFC 1123 label.
bool is_dns_label(std::string_view s) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (s.empty() || s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

void read_targets(parse_context& ctx, const YAML::Node& node, std::vector<target>& out) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsSequence()) {
    ctx.error(node, "targets", "expected a list of targets, got " + parse_context::describe(node));
    return;
  }
  std::map<std::string, int> seen;  // name → line
  for (std::size_t i = 0; i < node.size(); ++i) {
    std::string path = "targets[" + std::to_string(i) + "]";
    map_view m(ctx, node[i], path,
               {"name", "version", "interval", "resource", "process_metrics", "container_name",
                "pid", "pidfile", "process", "systemd_unit", "socket"});
    if (!m.valid()) continue;
    target t;
    t.where = ctx.where(node[i]);
    if (!m.has("name")) {
      ctx.error(node[i], path, "missing 'name' (it becomes service.name)");
    } else {
      m.read("name", t.name);
      if (t.name.empty()) {
        ctx.error(m.get("name"), m.join("name"), "must not be empty");
      } else if (auto [it, fresh] = seen.emplace(t.name, ctx.where(m.get("name")).line); !fresh) {
        ctx.error(m.get("name"), m.join("name"),
                  "duplicate target name '" + t.name + "' (first used at line " +
                      std::to_string(it->second) + ")");
      }
    }
    m.read("version", t.version);
    if (duration d{}; m.read("interval", d)) {
      if (d < std::chrono::seconds(1)) {
        ctx.error(m.get("interval"), m.join("interval"), "must be at least 1s");
      }
      t.interval = d;
    }
    if (m.has("resource")) read_attributes(ctx, m.get("resource"), m.join("resource"), t.resource);
    m.read("process_metrics", t.process_metrics);
    if (m.read("container_name", t.container_name) && !is_dns_label(t.container_name)) {
      ctx.error(m.get("container_name"), m.join("container_name"),
                "expected a Kubernetes container name: at most 63 lowercase letters, digits and "
                "'-', starting and ending with a letter or digit");
    }

    std::vector<std::string_view> given;
    for (auto id : kIdentities) {
      if (m.has(id)) given.push_back(id);
    }
    std::string label = t.name.empty() ? "this target" : "target '" + t.name + "'";
    if (given.empty()) {
      ctx.error(node[i], path,
                label +
                    " has no identity; give exactly one of pid, pidfile, process, "
                    "systemd_unit, socket");
      out.push_back(std::move(t));
      continue;
    }
    if (given.size() > 1) {
      ctx.error(m.key_node(given[1]), m.join(given[1]),
                label + " has two identities (" + std::string(given[0]) + " and " +
                    std::string(given[1]) + "); give exactly one");
    }
    auto id = given[0];
    if (id == "pid") {
      t.identity = target::kind::pid;
      std::uint64_t pid = 0;
      if (m.read_count("pid", pid) && (pid == 0 || pid > 4194304)) {
        ctx.error(m.get("pid"), m.join("pid"), "expected a process id between 1 and 4194304");
      }
      t.pid = static_cast<pid_t>(pid);
    } else if (id == "pidfile") {
      t.identity = target::kind::pidfile;
      m.read("pidfile", t.pidfile);
      if (!t.pidfile.starts_with("/")) {
        ctx.error(m.get("pidfile"), m.join("pidfile"), "expected an absolute path");
      }
    } else if (id == "process") {
      t.identity = target::kind::process;
      read_target_process(m, t);
    } else if (id == "systemd_unit") {
      t.identity = target::kind::systemd_unit;
      m.read("systemd_unit", t.systemd_unit);
      if (t.systemd_unit.empty() || t.systemd_unit.find('/') != std::string::npos) {
        ctx.error(m.get("systemd_unit"), m.join("systemd_unit"),
                  "expected a unit name such as nginx.service");
      } else if (t.systemd_unit.find('.') == std::string::npos) {
        t.systemd_unit += ".service";
      }
    } else {
      t.identity = target::kind::socket;
      read_target_socket(m, t);
    }
    out.push_back(std::move(t));
  }
}

void read_listener(parse_context& ctx, const map_view& parent, std::string_view key,
                   listener& out) {
  if (!parent.has(key)) return;
  std::vector<std::string_view> keys = {
      "unix", "mode", "group", "max_message_size", "max_connections", "idle_timeout"};
  // NDJSON has no TCP door: over TCP the sender's process is unknown, and nothing binds one.
  if (key == "ndjson") keys.push_back("unix_datagram");
  if (key != "ndjson") keys.push_back("tcp");
  if (key == "otlp_grpc") keys.push_back("max_concurrent_streams");
  map_view m(ctx, parent.get(key), parent.join(key), keys);
  if (!m.valid()) return;
  for (auto [k, path] :
       {std::pair{"unix", &out.unix_path}, {"unix_datagram", &out.unix_datagram}}) {
    m.read(k, *path);
    if (m.has(k) && !path->starts_with("/")) {
      ctx.error(m.get(k), m.join(k), "expected an absolute socket path");
    } else if (path->size() >= 108) {
      ctx.error(m.get(k), m.join(k), "a socket path must be shorter than 108 bytes");
    }
  }
  m.read_size("max_message_size", out.max_message_size);
  if (m.has("max_message_size") &&
      (out.max_message_size < 1024 || out.max_message_size > (256ull << 20))) {
    ctx.error(m.key_node("max_message_size"), m.join("max_message_size"),
              "must be between 1KiB and 256MiB");
  }
  m.read_count_between("max_connections", out.max_connections, 1, 65536);
  m.read_count_between("max_concurrent_streams", out.max_concurrent_streams, 1, 1024);
  m.read("idle_timeout", out.idle_timeout);
  m.read("tcp", out.tcp);
  if (m.has("tcp")) {
    std::string host;
    std::uint16_t port = 0;
    if (!split_host_port(out.tcp, host, port)) {
      ctx.error(m.get("tcp"), m.join("tcp"), "expected HOST:PORT such as 127.0.0.1:4317");
    }
  }
  if (m.has("mode")) {
    std::string text;
    m.read("mode", text);
    unsigned v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 8);
    if (ec != std::errc() || p != text.data() + text.size() || v > 0777) {
      ctx.error(m.get("mode"), m.join("mode"),
                "expected an octal file mode such as \"0660\", got '" + text + "'");
    } else {
      out.mode = v;
    }
  }
  m.read("group", out.group);
}

// True when `max_elapsed_time` was given.
bool read_retry(parse_context& ctx, const map_view& parent, retry_settings& out) {
  if (!parent.has("retry")) return false;
  map_view m(ctx, parent.get("retry"), parent.join("retry"),
             {"enabled", "initial_interval", "max_interval", "multiplier", "max_elapsed_time"});
  if (!m.valid()) return false;
  m.read("enabled", out.enabled);
  m.read("initial_interval", out.initial_interval);
  m.read("max_interval", out.max_interval);
  m.read("max_elapsed_time", out.max_elapsed_time);
  if (m.has("multiplier")) {
    std::string text;
    m.read("multiplier", text);
    double v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < 1.0 || v > 10.0) {
      ctx.error(m.get("multiplier"), m.join("multiplier"),
                "expected a number between 1 and 10, got '" + text + "'");
    } else {
      out.multiplier = v;
    }
  }
  if (out.initial_interval <= duration(0)) {
    ctx.error(m.key_node("initial_interval"), m.join("initial_interval"), "must be above 0");
  }
  if (out.max_interval < out.initial_interval) {
    ctx.error(m.key_node("max_interval"), m.join("max_interval"),
              "must not be below initial_interval");
  }
  return m.has("max_elapsed_time");
}

// Overlays the OTEL_EXPORTER_OTLP_* variables an SDK would honour; the file wins where both speak.
struct otel_exporter_env {
  std::optional<std::string> endpoint, headers, protocol, compression, timeout, insecure,
      certificate;
};

otel_exporter_env read_otel_exporter_env(const env_lookup& env) {
  otel_exporter_env e;
  e.endpoint = env("OTEL_EXPORTER_OTLP_ENDPOINT");
  e.headers = env("OTEL_EXPORTER_OTLP_HEADERS");
  e.protocol = env("OTEL_EXPORTER_OTLP_PROTOCOL");
  e.compression = env("OTEL_EXPORTER_OTLP_COMPRESSION");
  e.timeout = env("OTEL_EXPORTER_OTLP_TIMEOUT");
  e.insecure = env("OTEL_EXPORTER_OTLP_INSECURE");
  e.certificate = env("OTEL_EXPORTER_OTLP_CERTIFICATE");
  return e;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      unsigned v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ')
    s.remove_suffix(1);
  return s;
}

// "k1=v1,k2=v2" as OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS write it.
std::vector<std::pair<std::string, std::string>> parse_key_value_list(std::string_view text,
                                                                      bool& ok) {
  std::vector<std::pair<std::string, std::string>> out;
  ok = true;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      ok = false;
      continue;
    }
    out.emplace_back(percent_decode(trim(item.substr(0, eq))),
                     percent_decode(trim(item.substr(eq + 1))));
  }
  return out;
}

void read_otlp_exporter(parse_context& ctx, const map_view& parent, const std::string& key,
                        const otel_exporter_env& env, otlp_exporter& out) {
  map_view m(ctx, parent.get(key), parent.join(key),
             {"endpoint", "balancing", "protocol", "headers", "compression", "timeout", "tls",
              "retry", "keepalive", "spool"});
  out.name = key;
  out.where = ctx.where(parent.key_node(key));
  if (!m.valid()) return;

  // Environment first, as defaults; then the file.
  std::string endpoint_text = env.endpoint.value_or("");
  if (env.protocol) {
    if (*env.protocol == "grpc") {
      out.wire = otlp_exporter::protocol::grpc;
    } else if (*env.protocol == "http/protobuf") {
      out.wire = otlp_exporter::protocol::http_protobuf;
    }
  }
  if (env.compression) {
    out.codec = *env.compression == "none" ? otlp_exporter::compression::none
                                           : otlp_exporter::compression::gzip;
  }
  if (env.timeout) {
    std::uint64_t ms = 0;
    auto [p, ec] =
        std::from_chars(env.timeout->data(), env.timeout->data() + env.timeout->size(), ms);
    if (ec == std::errc() && ms > 0) out.timeout = std::chrono::milliseconds(ms);
  }
  if (env.insecure) out.tls.insecure = *env.insecure == "true";
  if (env.certificate) out.tls.ca_file = *env.certificate;
  if (env.headers) {
    bool ok = true;
    out.headers = parse_key_value_list(*env.headers, ok);
    if (!ok) {
      ctx.warning(
          parent.key_node(key), parent.join(key),
          "OTEL_EXPORTER_OTLP_HEADERS has entries that are not key=value; they are ignored");
    }
  }

  // One endpoint, or a list of them; each with the YAML node to point a problem at.
  std::vector<std::pair<std::string, YAML::Node>> endpoint_texts;
  if (m.has("endpoint") && m.get("endpoint").IsSequence()) {
    auto list = m.get("endpoint");
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto path = m.join("endpoint") + "[" + std::to_string(i) + "]";
      if (auto text = ctx.scalar(list[i], path, "an endpoint such as collector:4317")) {
        endpoint_texts.emplace_back(*text, list[i]);
      }
    }
    if (list.size() == 0) {
      ctx.error(m.get("endpoint"), m.join("endpoint"), "an empty list; give at least one endpoint");
      return;
    }
  } else {
    m.read("endpoint", endpoint_text);
    if (!endpoint_text.empty()) {
      endpoint_texts.emplace_back(endpoint_text,
                                  m.has("endpoint") ? m.get("endpoint") : parent.key_node(key));
    }
  }
  if (auto b = m.read_choice("balancing", {"failover", "round_robin"})) {
    out.balance =
        *b == 0 ? otlp_exporter::balancing::failover : otlp_exporter::balancing::round_robin;
  }
  if (auto p = m.read_choice("protocol", {"grpc", "http/protobuf"})) {
    out.wire = *p == 0 ? otlp_exporter::protocol::grpc : otlp_exporter::protocol::http_protobuf;
  }
  if (m.has("headers")) read_string_map(ctx, m.get("headers"), m.join("headers"), out.headers);
  if (auto c = m.read_choice("compression", {"gzip", "none"})) {
    out.codec = *c == 0 ? otlp_exporter::compression::gzip : otlp_exporter::compression::none;
  }
  m.read("timeout", out.timeout);
  if (out.timeout <= duration(0)) {
    ctx.error(m.key_node("timeout"), m.join("timeout"), "must be above 0");
  }
  if (m.has("tls")) {
    map_view t(ctx, m.get("tls"), m.join("tls"),
               {"insecure", "ca_file", "cert_file", "key_file", "server_name"});
    if (t.valid()) {
      t.read("insecure", out.tls.insecure);
      t.read("ca_file", out.tls.ca_file);
      t.read("cert_file", out.tls.cert_file);
      t.read("key_file", out.tls.key_file);
      t.read("server_name", out.tls.server_name);
      if (out.tls.cert_file.empty() != out.tls.key_file.empty()) {
        ctx.error(m.get("tls"), m.join("tls"), "cert_file and key_file go together");
      }
      for (auto field : {"ca_file", "cert_file", "key_file"}) {
        if (!t.has(field)) continue;
        std::string path;
        t.read(field, path);
        if (!path.empty() && !std::ifstream(path).good()) {
          ctx.error(t.get(field), t.join(field), "cannot read '" + path + "'");
        }
      }
    }
  }
  // Header names are HTTP tokens and values one line: a CR or LF (percent-decoded from
  // OTEL_EXPORTER_OTLP_HEADERS, say) would forge headers or split the request.
  auto is_token = [](unsigned char c) {
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  };
  for (const auto& [name, value] : out.headers) {
    bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
      return is_token(static_cast<unsigned char>(c));
    });
    bool value_ok = std::none_of(value.begin(), value.end(), [](char c) {
      auto u = static_cast<unsigned char>(c);
      return (u < 0x20 && u != '\t') || u == 0x7f;
    });
    if (!name_ok || !value_ok) {
      ctx.error(m.has("headers") ? m.get("headers") : parent.key_node(key), m.join("headers"),
                "header '" + name + "': " +
                    (!name_ok ? "a name may hold only letters, digits and !#$%&'*+-.^_`|~"
                              : "a value may not hold control characters such as CR or LF"));
    }
  }
  bool elapsed_given = read_retry(ctx, m, out.retry);
  if (m.has("spool")) {
    map_view sp(ctx, m.get("spool"), m.join("spool"), {"dir", "max_bytes", "fsync"});
    if (sp.valid()) {
      sp.read("dir", out.spool.dir);
      sp.read_size("max_bytes", out.spool.max_bytes);
      sp.read("fsync", out.spool.fsync);
      if (!out.spool.dir.starts_with("/")) {
        ctx.error(sp.has("dir") ? sp.get("dir") : m.get("spool"), sp.join("dir"),
                  "expected an absolute directory path");
      }
      if (out.spool.max_bytes < (1u << 20)) {
        ctx.error(sp.key_node("max_bytes"), sp.join("max_bytes"), "must be at least 1MiB");
      }
      // With a spool its byte budget decides what is given up, not time: an outage of any length
      // loses nothing the spool can hold, unless max_elapsed_time is set explicitly.
      if (!elapsed_given) out.retry.max_elapsed_time = {};
    }
  }
  if (m.has("keepalive")) {
    map_view k(ctx, m.get("keepalive"), m.join("keepalive"), {"time", "timeout"});
    if (k.valid()) {
      k.read("time", out.keepalive_time);
      k.read("timeout", out.keepalive_timeout);
    }
  }

  if (endpoint_texts.empty()) {
    ctx.error(m.has("endpoint") ? m.get("endpoint") : parent.key_node(key), m.join("endpoint"),
              "missing; give the upstream's address, such as collector:4317 (or set "
              "OTEL_EXPORTER_OTLP_ENDPOINT)");
    return;
  }
  bool http = out.wire == otlp_exporter::protocol::http_protobuf;
  for (const auto& [text, node] : endpoint_texts) {
    auto parsed = parse_endpoint(text, http ? 4318 : 4317, http);
    if (auto* err = std::get_if<std::string>(&parsed)) {
      ctx.error(node, m.join("endpoint"), *err);
      continue;
    }
    auto e = std::get<endpoint>(parsed);
    for (std::string_view signal_path : {"/v1/traces", "/v1/metrics", "/v1/logs"}) {
      if (e.url_path.ends_with(signal_path)) {
        ctx.error(node, m.join("endpoint"),
                  "give the base URL without '" + std::string(signal_path) +
                      "': sidelight appends /v1/traces, /v1/metrics and /v1/logs itself");
      }
    }
    out.targets.push_back(std::move(e));
  }
  if (!out.targets.empty()) out.target = out.targets.front();
}

void read_exporters(parse_context& ctx, const map_view& root, const env_lookup& env,
                    exporters_settings& out) {
  auto otel = read_otel_exporter_env(env);
  if (root.has("exporters")) {
    map_view m(ctx, root.get("exporters"), "exporters", {});
    if (!m.valid()) return;
    for (const auto& key : m.keys()) {
      auto slash = key.find('/');
      std::string type = key.substr(0, slash);
      if (slash != std::string::npos && slash + 1 == key.size()) {
        ctx.error(m.key_node(key), m.join(key), "expected TYPE or TYPE/NAME");
        continue;
      }
      if (type == "otlp") {
        otlp_exporter e;
        read_otlp_exporter(ctx, m, key, otel, e);
        out.otlp.push_back(std::move(e));
      } else if (type == "console") {
        map_view c(ctx, m.get(key), m.join(key), {"format"});
        console_exporter e;
        e.name = key;
        if (auto f = c.read_choice("format", {"text", "json"})) {
          e.style = *f == 0 ? console_exporter::format::text : console_exporter::format::json;
        }
        out.console.push_back(e);
      } else if (type == "file") {
        map_view c(ctx, m.get(key), m.join(key), {"path", "format"});
        console_exporter e;
        e.name = key;
        e.style = console_exporter::format::json;
        if (auto f = c.read_choice("format", {"json", "text"})) {
          e.style = *f == 0 ? console_exporter::format::json : console_exporter::format::text;
        }
        c.read("path", e.path);
        if (!e.path.starts_with("/")) {
          ctx.error(c.has("path") ? c.get("path") : m.key_node(key), c.join("path"),
                    "expected an absolute file path");
        }
        out.console.push_back(e);
      } else {
        auto hint = did_you_mean(type, {"otlp", "console", "file"});
        ctx.error(m.key_node(key), m.join(key),
                  "unknown exporter type '" + type + "'" +
                      (hint ? "; did you mean '" + *hint + "'?" : ""s) +
                      " (known: otlp, console, file)");
      }
    }
  }
  // With no exporter in the file, OTEL_EXPORTER_OTLP_ENDPOINT alone is enough to export upstream.
  if (out.empty() && otel.endpoint && !otel.endpoint->empty()) {
    YAML::Node synthetic(YAML::NodeType::Map);
    synthetic["otlp"] = YAML::Node(YAML::NodeType::Map);
    map_view holder(ctx, synthetic, "OTEL_EXPORTER_OTLP_ENDPOINT", {});
    otlp_exporter e;
    read_otlp_exporter(ctx, holder, "otlp", otel, e);
    out.otlp.push_back(std::move(e));
  }
  if (out.empty()) out.console.push_back({"console", console_exporter::format::text, ""});
}

config read_root(parse_context& ctx, const YAML::Node& doc, const env_lookup& env) {
  config cfg;
  cfg.source = ctx.file();
  map_view root(ctx, doc, "",
                {"resource", "heartbeat", "targets", "intake", "queue", "batch", "exporters",
                 "admin", "log", "shutdown_timeout"});
  if (!root.valid()) return cfg;

  if (auto attrs = env("OTEL_RESOURCE_ATTRIBUTES")) {
    bool ok = true;
    for (auto& [k, v] : parse_key_value_list(*attrs, ok))
      cfg.resource.emplace_back(k, v);
    if (!ok) {
      ctx.warning(doc, "OTEL_RESOURCE_ATTRIBUTES",
                  "has entries that are not key=value; they are ignored");
    }
  }
  if (root.has("resource")) read_attributes(ctx, root.get("resource"), "resource", cfg.resource);
  if (auto name = env("OTEL_SERVICE_NAME"); name && !name->empty()) {
    cfg.self_service_name = *name;
  }

  if (root.has("heartbeat")) {
    map_view m(ctx, root.get("heartbeat"), "heartbeat", {"interval", "discovery_interval"});
    m.read("interval", cfg.heartbeat.interval);
    m.read("discovery_interval", cfg.heartbeat.discovery_interval);
    if (cfg.heartbeat.interval < std::chrono::seconds(1)) {
      ctx.error(m.key_node("interval"), "heartbeat.interval", "must be at least 1s");
    }
    if (cfg.heartbeat.discovery_interval < std::chrono::milliseconds(50)) {
      ctx.error(m.key_node("discovery_interval"), "heartbeat.discovery_interval",
                "must be at least 50ms");
    }
  }

  read_targets(ctx, root.get("targets"), cfg.targets);

  if (root.has("intake")) {
    map_view m(ctx, root.get("intake"), "intake", {"otlp_grpc", "otlp_http", "ndjson", "sampling"});
    if (m.has("sampling")) {
      map_view sm(ctx, m.get("sampling"), "intake.sampling", {"traces", "logs"});
      for (auto [key, out] : {std::pair{"traces", &cfg.intake.sampling.traces},
                              {"logs", &cfg.intake.sampling.logs}}) {
        if (!sm.valid() || !sm.has(key)) continue;
        std::string text;
        sm.read(key, text);
        double v = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || p != text.data() + text.size() || v < 0.0 || v > 1.0) {
          ctx.error(sm.get(key), sm.join(key),
                    "expected a ratio between 0 and 1 (0.25 keeps a quarter of the traces), got '" +
                        text + "'");
        } else {
          *out = v;
        }
      }
    }
    read_listener(ctx, m, "otlp_grpc", cfg.intake.otlp_grpc);
    read_listener(ctx, m, "otlp_http", cfg.intake.otlp_http);
    read_listener(ctx, m, "ndjson", cfg.intake.ndjson);
  }
  if (root.has("queue")) {
    map_view m(ctx, root.get("queue"), "queue",
               {"max_bytes", "max_items", "memory_limit", "when_full"});
    m.read_size("max_bytes", cfg.queue.max_bytes);
    if (auto w = m.read_choice("when_full",
                               {"backpressure_then_drop_oldest", "drop_oldest", "backpressure"})) {
      cfg.queue.full = static_cast<when_full>(*w);
    }
    m.read_size("memory_limit", cfg.queue.memory_limit);
    m.read_count("max_items", cfg.queue.max_items);
    if (cfg.queue.max_bytes < (64u << 10)) {
      ctx.error(m.key_node("max_bytes"), "queue.max_bytes", "must be at least 64KiB");
    }
  }
  if (root.has("batch")) {
    map_view m(ctx, root.get("batch"), "batch", {"max_items", "max_bytes", "timeout"});
    m.read_count("max_items", cfg.batch.max_items);
    m.read_size("max_bytes", cfg.batch.max_bytes);
    if (cfg.batch.max_bytes < (64u << 10)) {
      ctx.error(m.key_node("max_bytes"), "batch.max_bytes", "must be at least 64KiB");
    }
    m.read("timeout", cfg.batch.timeout);
    if (cfg.batch.max_items == 0) {
      ctx.error(m.key_node("max_items"), "batch.max_items", "must be at least 1");
    }
  }
  read_exporters(ctx, root, env, cfg.exporters);
  if (root.has("admin")) {
    map_view m(ctx, root.get("admin"), "admin", {"listen"});
    m.read("listen", cfg.admin.listen);
    const auto& l = cfg.admin.listen;
    if (!l.empty() && !l.starts_with("unix:") && !l.starts_with("/")) {
      std::string host;
      std::uint16_t port = 0;
      if (!split_host_port(l, host, port)) {
        ctx.error(m.get("listen"), "admin.listen",
                  "expected HOST:PORT such as 127.0.0.1:13133, or unix:/path/to.sock");
      }
    }
  }
  if (root.has("log")) {
    map_view m(ctx, root.get("log"), "log", {"level", "format"});
    if (auto l = m.read_choice("level", {"trace", "debug", "info", "warn", "error", "off"})) {
      static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
      cfg.log.level = levels[*l];
    }
    if (auto f = m.read_choice("format", {"text", "json"})) {
      cfg.log.style = *f == 0 ? log_settings::format::text : log_settings::format::json;
    }
  }
  root.read("shutdown_timeout", cfg.shutdown_timeout);
  return cfg;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string_view to_string(when_full w) {
  switch (w) {
    case when_full::backpressure_then_drop_oldest:
      return "backpressure_then_drop_oldest";
    case when_full::drop_oldest:
      return "drop_oldest";
    case when_full::backpressure:
      return "backpressure";
  }
  return "?";
}

std::string_view to_string(target::kind k) {
  switch (k) {
    case target::kind::pid:
      return "pid";
    case target::kind::pidfile:
      return "pidfile";
    case target::kind::process:
      return "process";
    case target::kind::systemd_unit:
      return "systemd_unit";
    case target::kind::socket:
      return "socket";
  }
  return "?";
}

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

std::optional<std::string> did_you_mean(std::string_view word,
                                        const std::vector<std::string_view>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (auto c : candidates) {
    auto d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(c);
    }
  }
  return best;
}

std::variant<endpoint, std::string> parse_endpoint(std::string_view text,
                                                   std::uint16_t default_port, bool allow_path) {
  endpoint e;
  e.text = std::string(text);
  std::string_view rest = text;
  if (rest.starts_with("unix://")) {
    rest.remove_prefix(7);
    e.kind = endpoint::scheme::unix_path;
  } else if (rest.starts_with("unix:")) {
    rest.remove_prefix(5);
    e.kind = endpoint::scheme::unix_path;
  }
  if (e.kind == endpoint::scheme::unix_path) {
    if (!rest.starts_with("/")) return "expected unix:/absolute/path, got '" + e.text + "'";
    e.path = std::string(rest);
    return e;
  }
  if (rest.starts_with("http://")) {
    e.kind = endpoint::scheme::http;
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    e.kind = endpoint::scheme::https;
    rest.remove_prefix(8);
  } else if (rest.find("://") != std::string_view::npos) {
    return "unsupported scheme in '" + e.text + "'; use http://, https:// or unix:";
  }
  while (rest.ends_with("/"))
    rest.remove_suffix(1);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (!allow_path || e.kind == endpoint::scheme::none) {
      return "expected HOST:PORT without a path, got '" + e.text + "'";
    }
    e.url_path = std::string(rest.substr(slash));
    rest = rest.substr(0, slash);
  }
  if (rest.empty()) return "expected HOST:PORT, got '" + e.text + "'";
  std::string host;
  std::uint16_t port = 0;
  if (split_host_port(rest, host, port)) {
    e.host = host;
    e.port = port;
  } else if (rest.find(':') == std::string_view::npos ||
             (rest.starts_with("[") && rest.ends_with("]"))) {
    e.host = std::string(rest.starts_with("[") ? rest.substr(1, rest.size() - 2) : rest);
    e.port = default_port;
  } else {
    return "expected HOST:PORT, got '" + e.text + "'";
  }
  if (e.host.empty()) return "missing host in '" + e.text + "'";
  return e;
}

std::string format_problem(const problem& p) {
  std::ostringstream out;
  out << p.where.file;
  if (p.where.line > 0) out << ':' << p.where.line << ':' << p.where.column;
  out << (p.level == problem::severity::error ? ": error: " : ": warning: ") << p.message;
  return out.str();
}

std::size_t load_result::error_count() const {
  return std::count_if(problems.begin(), problems.end(),
                       [](const problem& p) { return p.level == problem::severity::error; });
}

load_result load_text(std::string_view yaml, const std::string& source_name,
                      const env_lookup& env) {
  load_result result;
  parse_context ctx(source_name, env, result.problems);
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    result.problems.push_back({problem::severity::error,
                               {source_name, e.mark.line + 1, e.mark.column + 1},
                               "not valid YAML: " + e.msg});
    return result;
  }
  config cfg = read_root(ctx, doc, env);
  std::stable_sort(
      result.problems.begin(), result.problems.end(), [](const problem& a, const problem& b) {
        return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
      });
  if (result.error_count() == 0) result.value = std::move(cfg);
  return result;
}

load_result load_file(const std::string& path, const env_lookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    load_result result;
    result.problems.push_back(
        {problem::severity::error,
         {path, 0, 0},
         "cannot read the configuration file: " + std::string(std::strerror(errno))});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_text(text.str(), path, env);
}

}  // namespace sidelight::config
