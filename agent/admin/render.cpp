#include "admin/render.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

#include "codec/utf8.hpp"

namespace sidelight::admin {

using nlohmann::json;

namespace {

using owned_labels = std::vector<std::pair<std::string, std::string>>;

// Label values escape backslash, double quote and newline (exposition format 0.0.4), and are
// UTF-8 whatever a peer made of them.
std::string escaped(std::string_view raw, bool help = false) {
  auto v = codec::is_valid_utf8(raw) ? std::string(raw) : codec::printable_utf8(raw);
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"' && !help) {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The shortest text that reads back as the same double.
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

const char* type_name(stats::kind k) {
  switch (k) {
    case stats::kind::counter:
      return "counter";
    case stats::kind::gauge:
      return "gauge";
    case stats::kind::histogram:
      return "histogram";
  }
  return "untyped";
}

// Prometheus wants each family's samples together, after one HELP and TYPE: samples are kept by
// family, in the order families were first reported, and written out at the end.
class prometheus_sink final : public stats::sink {
 public:
  void open(std::string_view, stats::labels identity) override {
    scopes_.push_back(scope_.size());
    for (const auto& l : identity)
      scope_.emplace_back(stats::prometheus_label(l.key), std::string(l.value));
  }
  void close() override {
    scope_.resize(scopes_.back());
    scopes_.pop_back();
  }
  void value(const stats::metric& m, stats::labels extra, double v) override {
    if (!(m.surfaces & stats::prometheus)) return;
    auto& f = family_of(m);
    f.body += f.name + label_text(extra) + ' ' + number(v) + '\n';
  }
  void histogram(const stats::metric& m, stats::labels extra,
                 const stats::histogram_value& h) override {
    if (!(m.surfaces & stats::prometheus)) return;
    auto& f = family_of(m);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.buckets.size(); ++i) {
      cumulative += h.buckets[i];
      auto le = i < h.bounds.size() ? number(h.bounds[i]) : "+Inf";
      f.body += f.name + "_bucket" + label_text(extra, le) + ' ' +
                number(static_cast<double>(cumulative)) + '\n';
    }
    f.body += f.name + "_sum" + label_text(extra) + ' ' + number(h.sum) + '\n';
    f.body += f.name + "_count" + label_text(extra) + ' ' +
              number(static_cast<double>(cumulative)) + '\n';
  }
  void fact(std::string_view, std::string_view) override {}
  void fact(std::string_view, std::int64_t) override {}

  std::string text() const {
    std::string out;
    for (const auto& f : families_) {
      out += "# HELP " + f.name + ' ' + escaped(f.help, true) + "\n# TYPE " + f.name + ' ' +
             f.type + '\n' + f.body;
    }
    return out;
  }

 private:
  struct family {
    std::string name;
    std::string help;
    const char* type;
    std::string body;
  };

  family& family_of(const stats::metric& m) {
    auto name = stats::prometheus_name(m);
    auto [it, added] = index_.try_emplace(name, families_.size());
    if (added) families_.push_back({name, std::string(m.help), type_name(m.type), {}});
    return families_[it->second];
  }

  std::string label_text(stats::labels extra, const std::string& le = "") const {
    std::string out;
    auto add = [&](std::string_view k, std::string_view v) {
      out += (out.empty() ? "{" : ",") + std::string(k) + "=\"" + escaped(v) + '"';
    };
    for (const auto& [k, v] : scope_)
      add(k, v);
    for (const auto& l : extra)
      add(stats::prometheus_label(l.key), l.value);
    if (!le.empty()) add("le", le);
    return out.empty() ? out : out + '}';
  }

  owned_labels scope_;
  std::vector<std::size_t> scopes_;
  std::vector<family> families_;
  std::map<std::string, std::size_t> index_;
};

json number_json(double v) {
  if (std::floor(v) == v && std::fabs(v) < 9007199254740992.0) return static_cast<std::int64_t>(v);
  return v;
}

// Sections become arrays of objects; a value goes under its metric's JSON key, with "{label}"
// replaced by that label's value and the labels not used there nesting below it.
class json_sink final : public stats::sink {
 public:
  json_sink() { stack_.push_back(&root_); }

  void open(std::string_view section, stats::labels identity) override {
    auto& list = (*stack_.back())[std::string(section)];
    if (!list.is_array()) list = json::array();
    list.push_back(json::object());
    auto& obj = list.back();
    for (const auto& l : identity)
      obj[std::string(l.key)] = std::string(l.value);
    stack_.push_back(&obj);
  }
  void close() override { stack_.pop_back(); }
  void value(const stats::metric& m, stats::labels extra, double v) override {
    if (m.surfaces & stats::json) slot(m, extra) = number_json(v);
  }
  void histogram(const stats::metric& m, stats::labels extra,
                 const stats::histogram_value& h) override {
    if (!(m.surfaces & stats::json)) return;
    slot(m, extra) = {{"bounds", std::vector<double>(h.bounds.begin(), h.bounds.end())},
                      {"buckets", std::vector<std::uint64_t>(h.buckets.begin(), h.buckets.end())},
                      {"sum", h.sum}};
  }
  void fact(std::string_view key, std::string_view value) override {
    (*stack_.back())[std::string(key)] = std::string(value);
  }
  void fact(std::string_view key, std::int64_t value) override {
    (*stack_.back())[std::string(key)] = value;
  }

  json take() { return std::move(root_); }

 private:
  json& slot(const stats::metric& m, stats::labels extra) {
    std::string key(m.json.empty() ? m.name : m.json);
    std::vector<std::string_view> rest;
    for (const auto& l : extra) {
      auto marker = "{" + std::string(l.key) + "}";
      if (auto at = key.find(marker); at != std::string::npos) {
        key.replace(at, marker.size(), l.value);
      } else {
        rest.push_back(l.value);
      }
    }
    json* at = &(*stack_.back())[key];
    for (auto v : rest)
      at = &(*at)[std::string(v)];
    return *at;
  }

  json root_ = json::object();
  std::vector<json*> stack_;
};

}  // namespace

std::string to_prometheus(const stats::source& s) {
  prometheus_sink sink;
  s.visit(sink);
  return sink.text();
}

json to_json(const status_provider& s) {
  json_sink sink;
  s.visit(sink);
  auto doc = sink.take();
  auto reasons = s.not_ready();
  doc["ready"] = reasons.empty();
  doc["not_ready_reasons"] = reasons;
  return doc;
}

std::string json_text(const json& doc) {
  // Peer text (an upstream's error, a process's name) may not be UTF-8: replaced, never thrown.
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string human_duration(double seconds) {
  auto s = static_cast<long long>(seconds);
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
  }
  return buf;
}

namespace {

// Columns sized to their widest cell.
class table {
 public:
  explicit table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  bool empty() const { return rows_.size() == 1; }
  std::string str() const {
    std::vector<std::size_t> width(rows_[0].size(), 0);
    for (const auto& r : rows_)
      for (std::size_t c = 0; c < r.size(); ++c)
        width[c] = std::max(width[c], r[c].size());
    std::string out;
    for (const auto& r : rows_) {
      std::string line;
      for (std::size_t c = 0; c < r.size(); ++c) {
        line += r[c];
        if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
      }
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// A field as table text: "-" when missing or empty.
std::string cell(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) return "-";
  const auto& v = obj.at(key);
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number()) return number(v.get<double>());
  return v.is_null() ? "-" : v.dump();
}

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::uint64_t count(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) return 0;
  const auto& v = obj.at(key);
  if (v.is_number()) return v.get<std::uint64_t>();
  std::uint64_t n = 0;
  if (v.is_object())
    for (const auto& [k, x] : v.items())
      if (x.is_number()) n += x.get<std::uint64_t>();
  return n;
}

double seconds_between(const json& doc, const json& obj, const char* key) {
  auto now = doc.value("now_unix_nano", std::int64_t{0});
  auto then = obj.value(key, std::int64_t{0});
  return then > 0 && now > then ? static_cast<double>(now - then) / 1e9 : -1;
}

std::string header(const json& doc) {
  auto up = seconds_between(doc, doc, "started_unix_nano");
  const auto& reloads = doc.value("reloads", json::object());
  return "sidelight " + cell(doc, "version") + ", pid " + cell(doc, "pid") + ", up " +
         (up >= 0 ? human_duration(up) : "-") + ", config " + cell(doc, "config") +
         " (reloads: " + std::to_string(count(reloads, "applied")) + " applied, " +
         std::to_string(count(reloads, "refused")) + " refused)\n\n";
}

// The target as a whole: its status, live instances of min_instances, and why when not running.
std::string target_status(const json& target) {
  auto state = target.value("state", "");
  std::string out = state == "running" || state.empty() ? state : upper(state);
  out += " " + cell(target, "live_instances") + "/" + cell(target, "min_instances");
  if (state == "degraded") {
    // Its instances are up; only the target says what its probe answered.
    out += ": " + target.value("degraded_reason", "") + " (" + target.value("reason", "") + ")";
    return out;
  }
  auto reason = target.value("down_reason", "");
  if (state != "running" && !reason.empty()) out += ": " + reason;
  return out;
}

std::string targets_table(const json& doc) {
  table t({"TARGET", "STATUS", "KIND", "INSTANCE", "STATE", "PID", "UPTIME", "RESTARTS",
           "LAST CHANGE"});
  for (const auto& target : doc.value("targets", json::array())) {
    auto instances = target.value("instances", json::array());
    auto status = target_status(target);
    if (instances.empty()) {
      t.row({cell(target, "target"), status, cell(target, "kind"), "-", "DOWN: no instance", "-",
             "-", "0", "-"});
    }
    for (const auto& i : instances) {
      bool up = i.value("state", "") == "up";
      std::string state = up ? "up" : "DOWN";
      if (!up && !i.value("reason", "").empty()) state += ": " + i.value("reason", "");
      std::string change = "-";
      if (auto ago = seconds_between(doc, i, "last_change_unix_nano"); ago >= 0)
        change = human_duration(ago) + " ago (" + i.value("last_change", "") + ")";
      t.row({cell(target, "target"), status, cell(target, "kind"),
             cell(i, "instance_id").substr(0, 8), state, cell(i, "pid"),
             up ? human_duration(i.value("uptime_seconds", 0.0)) : "-", cell(i, "restarts"),
             change});
    }
  }
  return t.empty() ? "no targets\n" : t.str();
}

std::string exporters_table(const json& doc) {
  table t({"EXPORTER", "ENDPOINT", "UPSTREAM", "EXPORTED", "REJECTED", "PENDING", "RETRIES",
           "LAST ERROR"});
  for (const auto& e : doc.value("exporters", json::array())) {
    t.row({cell(e, "exporter"), cell(e, "endpoint"),
           e.value("upstream", "") == "up" ? "up" : "FAILING", cell(e, "data_points_exported"),
           cell(e, "data_points_rejected"), cell(e, "pending_states"), cell(e, "retries"),
           cell(e, "last_error")});
  }
  return t.str();
}

std::string pipelines_table(const json& doc) {
  table t({"EXPORTER", "SIGNAL", "UPSTREAM", "RECEIVED", "EXPORTED", "DROPPED", "QUEUED",
           "IN FLIGHT", "LAST ERROR"});
  for (const auto& l : doc.value("pipelines", json::array())) {
    t.row({cell(l, "exporter"), cell(l, "signal"),
           l.value("upstream", "") == "up" ? "up" : "FAILING", cell(l, "received"),
           cell(l, "exported"), std::to_string(count(l, "dropped")),
           cell(l, "queued_items") + " (" + cell(l, "queued_bytes") + " B)", cell(l, "in_flight"),
           cell(l, "last_error")});
  }
  return t.empty() ? "" : "\n" + t.str();
}

std::string intake_table(const json& doc) {
  table t({"INTAKE", "ADDRESS", "REQUESTS", "ITEMS", "REJECTED", "BAD", "CONNECTIONS"});
  for (const auto& i : doc.value("intake", json::array())) {
    t.row({cell(i, "protocol"), cell(i, "address"), cell(i, "requests"), cell(i, "items"),
           cell(i, "rejected"), cell(i, "bad"), cell(i, "open_connections")});
  }
  return t.empty() ? "" : "\n" + t.str();
}

}  // namespace

std::string to_table(const json& doc) {
  return header(doc) + targets_table(doc) + "\n" + exporters_table(doc) + pipelines_table(doc) +
         intake_table(doc);
}

}  // namespace sidelight::admin
