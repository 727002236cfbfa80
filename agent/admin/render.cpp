#include "admin/render.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace sidelight::admin {

using nlohmann::json;

std::vector<std::string> status_snapshot::not_ready_reasons() const {
  std::vector<std::string> out;
  for (const auto& e : exporters) {
    if (!e.upstream_ok) {
      out.push_back("exporter " + e.name + ": upstream failing: " + e.last_error);
    }
  }
  for (const auto& l : lanes) {
    if (!l.upstream_ok) {
      out.push_back("exporter " + l.exporter + " (" + l.signal +
                    "): upstream failing: " + l.last_error);
    }
  }
  return out;
}

namespace {

std::string iso8601(std::int64_t unix_ns) {
  if (unix_ns <= 0) return "";
  std::time_t t = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string to_json(const status_snapshot& s) {
  json j;
  j["version"] = s.version;
  j["pid"] = s.pid;
  j["started"] = iso8601(s.started_unix_ns);
  j["started_unix_nano"] = s.started_unix_ns;
  j["now_unix_nano"] = s.now_unix_ns;
  j["config"] = s.config_path;
  j["reloads"] = {{"applied", s.reloads_applied}, {"refused", s.reloads_refused}};
  auto reasons = s.not_ready_reasons();
  j["ready"] = reasons.empty();
  j["not_ready_reasons"] = reasons;
  j["targets"] = json::array();
  for (const auto& i : s.instances) {
    json t = {{"target", i.target},
              {"kind", i.kind},
              {"instance_id", i.instance_id},
              {"state", i.up ? "up" : "down"},
              {"uptime_seconds", i.uptime_seconds},
              {"restarts", i.restarts},
              {"reason", i.reason},
              {"last_change", i.last_change},
              {"last_change_unix_nano", i.last_change_unix_ns}};
    t["pid"] = i.pid ? json(*i.pid) : json(nullptr);
    j["targets"].push_back(std::move(t));
  }
  j["exporters"] = json::array();
  for (const auto& e : s.exporters) {
    j["exporters"].push_back({{"name", e.name},
                              {"endpoint", e.endpoint},
                              {"upstream", e.upstream_ok ? "up" : "failing"},
                              {"data_points_exported", e.points_exported},
                              {"data_points_rejected", e.points_rejected},
                              {"data_points_superseded", e.points_superseded},
                              {"requests_ok", e.requests_ok},
                              {"requests_failed", e.requests_failed},
                              {"retries", e.retries},
                              {"pending_states", e.pending_states},
                              {"last_latency_seconds", e.last_latency_seconds},
                              {"last_error", e.last_error}});
  }
  j["pipelines"] = json::array();
  for (const auto& l : s.lanes) {
    j["pipelines"].push_back({{"exporter", l.exporter},
                              {"signal", l.signal},
                              {"upstream", l.upstream_ok ? "up" : "failing"},
                              {"received", l.received},
                              {"recovered", l.recovered},
                              {"exported", l.exported},
                              {"dropped", l.dropped},
                              {"queued_items", l.queued_items},
                              {"queued_bytes", l.queued_bytes},
                              {"in_flight", l.in_flight},
                              {"requests_ok", l.requests_ok},
                              {"requests_failed", l.requests_failed},
                              {"retries", l.retries},
                              {"latency_bounds_seconds", l.latency_bounds},
                              {"latency_buckets", l.latency_buckets},
                              {"latency_sum_seconds", l.latency_sum_seconds},
                              {"last_error", l.last_error}});
  }
  j["intake"] = json::array();
  for (const auto& i : s.intake) {
    j["intake"].push_back({{"protocol", i.protocol},
                           {"address", i.address},
                           {"requests", i.requests},
                           {"items", i.items},
                           {"sampled_out", i.sampled_out},
                           {"rejected", i.rejected},
                           {"bytes", i.bytes},
                           {"bad", i.bad},
                           {"connections", i.connections},
                           {"connections_evicted", i.connections_evicted},
                           {"open_connections", i.open_connections}});
  }
  j["timeline"] = timeline_to_json(s.timeline);
  return j.dump(2) + "\n";
}

std::string from_json(const std::string& text, status_snapshot& out) {
  try {
    auto j = json::parse(text);
    out = {};
    out.version = j.at("version").get<std::string>();
    out.pid = j.at("pid").get<pid_t>();
    out.started_unix_ns = j.at("started_unix_nano").get<std::int64_t>();
    out.now_unix_ns = j.at("now_unix_nano").get<std::int64_t>();
    out.config_path = j.at("config").get<std::string>();
    out.reloads_applied = j.at("reloads").at("applied").get<std::uint64_t>();
    out.reloads_refused = j.at("reloads").at("refused").get<std::uint64_t>();
    for (const auto& t : j.at("targets")) {
      instance_status i;
      i.target = t.at("target").get<std::string>();
      i.kind = t.at("kind").get<std::string>();
      i.instance_id = t.at("instance_id").get<std::string>();
      i.up = t.at("state").get<std::string>() == "up";
      if (!t.at("pid").is_null()) i.pid = t.at("pid").get<pid_t>();
      i.uptime_seconds = t.at("uptime_seconds").get<double>();
      i.restarts = t.at("restarts").get<std::uint64_t>();
      i.reason = t.at("reason").get<std::string>();
      i.last_change = t.at("last_change").get<std::string>();
      i.last_change_unix_ns = t.at("last_change_unix_nano").get<std::int64_t>();
      out.instances.push_back(std::move(i));
    }
    for (const auto& x : j.at("exporters")) {
      exporter_status e;
      e.name = x.at("name").get<std::string>();
      e.endpoint = x.at("endpoint").get<std::string>();
      e.upstream_ok = x.at("upstream").get<std::string>() == "up";
      e.points_exported = x.at("data_points_exported").get<std::uint64_t>();
      e.points_rejected = x.at("data_points_rejected").get<std::uint64_t>();
      e.points_superseded = x.at("data_points_superseded").get<std::uint64_t>();
      e.requests_ok = x.at("requests_ok").get<std::uint64_t>();
      e.requests_failed = x.at("requests_failed").get<std::uint64_t>();
      e.retries = x.at("retries").get<std::uint64_t>();
      e.pending_states = x.at("pending_states").get<std::uint64_t>();
      e.last_latency_seconds = x.at("last_latency_seconds").get<double>();
      e.last_error = x.at("last_error").get<std::string>();
      out.exporters.push_back(std::move(e));
    }
    for (const auto& x : j.value("pipelines", json::array())) {
      lane_status l;
      l.exporter = x.at("exporter").get<std::string>();
      l.signal = x.at("signal").get<std::string>();
      l.upstream_ok = x.at("upstream").get<std::string>() == "up";
      l.received = x.at("received").get<std::uint64_t>();
      l.recovered = x.value("recovered", std::uint64_t{0});
      l.exported = x.at("exported").get<std::uint64_t>();
      l.dropped = x.at("dropped").get<std::map<std::string, std::uint64_t>>();
      l.queued_items = x.at("queued_items").get<std::uint64_t>();
      l.queued_bytes = x.at("queued_bytes").get<std::uint64_t>();
      l.in_flight = x.at("in_flight").get<std::uint64_t>();
      l.requests_ok = x.at("requests_ok").get<std::uint64_t>();
      l.requests_failed = x.at("requests_failed").get<std::uint64_t>();
      l.retries = x.at("retries").get<std::uint64_t>();
      l.latency_bounds = x.at("latency_bounds_seconds").get<std::vector<double>>();
      l.latency_buckets = x.at("latency_buckets").get<std::vector<std::uint64_t>>();
      l.latency_sum_seconds = x.at("latency_sum_seconds").get<double>();
      l.last_error = x.at("last_error").get<std::string>();
      out.lanes.push_back(std::move(l));
    }
    for (const auto& x : j.value("intake", json::array())) {
      intake_status i;
      i.protocol = x.at("protocol").get<std::string>();
      i.address = x.at("address").get<std::string>();
      i.requests = x.at("requests").get<std::uint64_t>();
      i.items = x.at("items").get<std::uint64_t>();
      i.sampled_out = x.value("sampled_out", std::uint64_t{0});
      i.rejected = x.value("rejected", std::uint64_t{0});
      i.bytes = x.at("bytes").get<std::uint64_t>();
      i.bad = x.at("bad").get<std::uint64_t>();
      i.connections = x.at("connections").get<std::uint64_t>();
      i.connections_evicted = x.at("connections_evicted").get<std::uint64_t>();
      i.open_connections = x.at("open_connections").get<std::int64_t>();
      out.intake.push_back(std::move(i));
    }
    out.timeline = timeline_from_json(j.value("timeline", json()));
  } catch (const json::exception& e) {
    return std::string("not a sidelight status document: ") + e.what();
  }
  return "";
}

namespace {

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
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
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

class exposition {
 public:
  // Starts a metric family: one HELP and TYPE line, then its samples.
  void family(const std::string& name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void sample(const std::string& name,
              std::initializer_list<std::pair<const char*, std::string>> labels, double value) {
    out_ << name;
    if (labels.size() > 0) {
      out_ << '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        out_ << (first ? "" : ",") << k << "=\"" << label(v) << '"';
        first = false;
      }
      out_ << '}';
    }
    out_ << ' ' << number(value) << '\n';
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

}  // namespace

std::string to_prometheus(const status_snapshot& s) {
  exposition x;
  x.family("sidelight_build_info", "gauge", "sidelight's version; always 1.");
  x.sample("sidelight_build_info", {{"version", s.version}}, 1);
  x.family("sidelight_start_time_seconds", "gauge", "When sidelight started, in unix seconds.");
  x.sample("sidelight_start_time_seconds", {},
           static_cast<double>(s.started_unix_ns / 1'000'000) / 1e3);

  x.family("sidelight_target_up", "gauge", "1 while a watched service instance is alive, else 0.");
  for (const auto& i : s.instances) {
    x.sample("sidelight_target_up",
             {{"target", i.target},
              {"instance_id", i.instance_id},
              {"pid", i.pid ? std::to_string(*i.pid) : ""}},
             i.up ? 1 : 0);
  }
  x.family("sidelight_target_uptime_seconds", "gauge",
           "Seconds since the instance's process started (kernel start time).");
  for (const auto& i : s.instances) {
    x.sample("sidelight_target_uptime_seconds",
             {{"target", i.target}, {"instance_id", i.instance_id}}, i.uptime_seconds);
  }
  x.family("sidelight_target_restarts_total", "counter", "Restarts seen since sidelight started.");
  for (const auto& i : s.instances) {
    x.sample("sidelight_target_restarts_total",
             {{"target", i.target}, {"instance_id", i.instance_id}},
             static_cast<double>(i.restarts));
  }
  std::map<std::string, int> states{{"up", 0}, {"down", 0}};
  for (const auto& i : s.instances)
    ++states[i.up ? "up" : "down"];
  x.family("sidelight_targets", "gauge", "Watched instances by state.");
  for (const auto& [state, n] : states)
    x.sample("sidelight_targets", {{"state", state}}, n);

  x.family("sidelight_export_data_points_total", "counter",
           "Heartbeat data points by exporter and outcome.");
  for (const auto& e : s.exporters) {
    x.sample("sidelight_export_data_points_total", {{"exporter", e.name}, {"outcome", "exported"}},
             static_cast<double>(e.points_exported));
    x.sample("sidelight_export_data_points_total", {{"exporter", e.name}, {"outcome", "rejected"}},
             static_cast<double>(e.points_rejected));
    x.sample("sidelight_export_data_points_total",
             {{"exporter", e.name}, {"outcome", "superseded"}},
             static_cast<double>(e.points_superseded));
  }
  x.family("sidelight_export_requests_total", "counter",
           "Export requests by exporter and outcome.");
  for (const auto& e : s.exporters) {
    x.sample("sidelight_export_requests_total", {{"exporter", e.name}, {"outcome", "ok"}},
             static_cast<double>(e.requests_ok));
    x.sample("sidelight_export_requests_total", {{"exporter", e.name}, {"outcome", "failed"}},
             static_cast<double>(e.requests_failed));
  }
  x.family("sidelight_export_retries_total", "counter", "Export retries by exporter.");
  for (const auto& e : s.exporters)
    x.sample("sidelight_export_retries_total", {{"exporter", e.name}},
             static_cast<double>(e.retries));
  x.family("sidelight_exporter_up", "gauge",
           "1 while the exporter's last request succeeded, else 0.");
  for (const auto& e : s.exporters)
    x.sample("sidelight_exporter_up", {{"exporter", e.name}}, e.upstream_ok ? 1 : 0);
  x.family("sidelight_exporter_pending_states", "gauge",
           "Instance states waiting to be delivered by the exporter.");
  for (const auto& e : s.exporters) {
    x.sample("sidelight_exporter_pending_states", {{"exporter", e.name}},
             static_cast<double>(e.pending_states));
  }
  x.family("sidelight_intake_requests_total", "counter",
           "Requests (NDJSON: lines) received by intake protocol.");
  for (const auto& i : s.intake)
    x.sample("sidelight_intake_requests_total", {{"protocol", i.protocol}},
             static_cast<double>(i.requests));
  x.family("sidelight_intake_items_total", "counter",
           "Spans, log records and data points accepted by intake protocol.");
  for (const auto& i : s.intake)
    x.sample("sidelight_intake_items_total", {{"protocol", i.protocol}},
             static_cast<double>(i.items));
  x.family("sidelight_intake_items_sampled_out_total", "counter",
           "Accepted items left out by head sampling (intake.sampling), by intake protocol.");
  for (const auto& i : s.intake)
    x.sample("sidelight_intake_items_sampled_out_total", {{"protocol", i.protocol}},
             static_cast<double>(i.sampled_out));
  x.family("sidelight_intake_rejected_total", "counter",
           "Requests (NDJSON: lines) refused because the queues were at queue.memory_limit.");
  for (const auto& i : s.intake)
    x.sample("sidelight_intake_rejected_total", {{"protocol", i.protocol}},
             static_cast<double>(i.rejected));
  x.family("sidelight_intake_bad_requests_total", "counter",
           "Requests (NDJSON: lines) refused as malformed, by intake protocol.");
  for (const auto& i : s.intake)
    x.sample("sidelight_intake_bad_requests_total", {{"protocol", i.protocol}},
             static_cast<double>(i.bad));
  x.family("sidelight_intake_connections", "gauge", "Open client connections by protocol.");
  for (const auto& i : s.intake)
    x.sample("sidelight_intake_connections", {{"protocol", i.protocol}},
             static_cast<double>(i.open_connections));
  x.family("sidelight_intake_connections_evicted_total", "counter",
           "Idle connections closed to make room when a protocol reached max_connections.");
  for (const auto& i : s.intake)
    x.sample("sidelight_intake_connections_evicted_total", {{"protocol", i.protocol}},
             static_cast<double>(i.connections_evicted));

  x.family("sidelight_pipeline_items_received_total", "counter",
           "Client items queued for an exporter, by signal.");
  for (const auto& l : s.lanes)
    x.sample("sidelight_pipeline_items_received_total",
             {{"exporter", l.exporter}, {"signal", l.signal}}, static_cast<double>(l.received));
  x.family("sidelight_pipeline_items_exported_total", "counter",
           "Client items the upstream accepted, by exporter and signal.");
  for (const auto& l : s.lanes)
    x.sample("sidelight_pipeline_items_exported_total",
             {{"exporter", l.exporter}, {"signal", l.signal}}, static_cast<double>(l.exported));
  x.family("sidelight_pipeline_items_dropped_total", "counter",
           "Client items dropped, by exporter, signal and reason.");
  for (const auto& l : s.lanes) {
    for (const auto& [reason, n] : l.dropped)
      x.sample("sidelight_pipeline_items_dropped_total",
               {{"exporter", l.exporter}, {"signal", l.signal}, {"reason", reason}},
               static_cast<double>(n));
  }
  x.family("sidelight_queue_items", "gauge", "Client items waiting in the queue.");
  for (const auto& l : s.lanes)
    x.sample("sidelight_queue_items", {{"exporter", l.exporter}, {"signal", l.signal}},
             static_cast<double>(l.queued_items));
  x.family("sidelight_queue_bytes", "gauge", "Encoded bytes waiting in the queue.");
  for (const auto& l : s.lanes)
    x.sample("sidelight_queue_bytes", {{"exporter", l.exporter}, {"signal", l.signal}},
             static_cast<double>(l.queued_bytes));
  x.family("sidelight_pipeline_items_in_flight", "gauge",
           "Client items sent (or waiting to be retried) and not yet answered.");
  for (const auto& l : s.lanes)
    x.sample("sidelight_pipeline_items_in_flight", {{"exporter", l.exporter}, {"signal", l.signal}},
             static_cast<double>(l.in_flight));
  x.family("sidelight_pipeline_requests_total", "counter",
           "Export requests of client telemetry by exporter, signal and outcome.");
  for (const auto& l : s.lanes) {
    x.sample("sidelight_pipeline_requests_total",
             {{"exporter", l.exporter}, {"signal", l.signal}, {"outcome", "ok"}},
             static_cast<double>(l.requests_ok));
    x.sample("sidelight_pipeline_requests_total",
             {{"exporter", l.exporter}, {"signal", l.signal}, {"outcome", "failed"}},
             static_cast<double>(l.requests_failed));
  }
  x.family("sidelight_pipeline_retries_total", "counter", "Export retries of client telemetry.");
  for (const auto& l : s.lanes)
    x.sample("sidelight_pipeline_retries_total", {{"exporter", l.exporter}, {"signal", l.signal}},
             static_cast<double>(l.retries));
  x.family("sidelight_export_latency_seconds", "histogram",
           "Time from sending an export request to its answer.");
  for (const auto& l : s.lanes) {
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < l.latency_buckets.size(); ++b) {
      cumulative += l.latency_buckets[b];
      x.sample("sidelight_export_latency_seconds_bucket",
               {{"exporter", l.exporter},
                {"signal", l.signal},
                {"le", b < l.latency_bounds.size() ? number(l.latency_bounds[b]) : "+Inf"}},
               static_cast<double>(cumulative));
    }
    x.sample("sidelight_export_latency_seconds_sum",
             {{"exporter", l.exporter}, {"signal", l.signal}}, l.latency_sum_seconds);
    x.sample("sidelight_export_latency_seconds_count",
             {{"exporter", l.exporter}, {"signal", l.signal}}, static_cast<double>(cumulative));
  }
  x.family("sidelight_config_reloads_total", "counter", "Configuration reloads by outcome.");
  x.sample("sidelight_config_reloads_total", {{"outcome", "applied"}},
           static_cast<double>(s.reloads_applied));
  x.sample("sidelight_config_reloads_total", {{"outcome", "refused"}},
           static_cast<double>(s.reloads_refused));
  return x.str();
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

}  // namespace

std::string to_table(const status_snapshot& s) {
  std::string out = "sidelight " + s.version + ", pid " + std::to_string(s.pid) + ", up " +
                    human_duration(static_cast<double>(s.now_unix_ns - s.started_unix_ns) / 1e9) +
                    ", config " + s.config_path +
                    " (reloads: " + std::to_string(s.reloads_applied) + " applied, " +
                    std::to_string(s.reloads_refused) + " refused)\n\n";
  table targets(
      {"TARGET", "KIND", "INSTANCE", "STATE", "PID", "UPTIME", "RESTARTS", "LAST CHANGE"});
  for (const auto& i : s.instances) {
    std::string change = "-";
    if (i.last_change_unix_ns > 0) {
      change = human_duration(static_cast<double>(s.now_unix_ns - i.last_change_unix_ns) / 1e9) +
               " ago (" + i.last_change + ")";
    }
    std::string state = i.up ? "up" : "DOWN";
    if (!i.up && !i.reason.empty()) state += ": " + i.reason;
    targets.row(
        {i.target, i.kind, i.instance_id.substr(0, 8), state, i.pid ? std::to_string(*i.pid) : "-",
         i.up ? human_duration(i.uptime_seconds) : "-", std::to_string(i.restarts), change});
  }
  out += s.instances.empty() ? "no targets\n" : targets.str();
  out += "\n";
  table exporters({"EXPORTER", "ENDPOINT", "UPSTREAM", "EXPORTED", "REJECTED", "PENDING", "RETRIES",
                   "LAST ERROR"});
  for (const auto& e : s.exporters) {
    exporters.row({e.name, e.endpoint, e.upstream_ok ? "up" : "FAILING",
                   std::to_string(e.points_exported), std::to_string(e.points_rejected),
                   std::to_string(e.pending_states), std::to_string(e.retries),
                   e.last_error.empty() ? "-" : e.last_error});
  }
  out += exporters.str();
  if (!s.lanes.empty()) {
    out += "\n";
    table lanes({"EXPORTER", "SIGNAL", "UPSTREAM", "RECEIVED", "EXPORTED", "DROPPED", "QUEUED",
                 "IN FLIGHT", "LAST ERROR"});
    for (const auto& l : s.lanes) {
      lanes.row({l.exporter, l.signal, l.upstream_ok ? "up" : "FAILING", std::to_string(l.received),
                 std::to_string(l.exported), std::to_string(l.dropped_total()),
                 std::to_string(l.queued_items) + " (" + std::to_string(l.queued_bytes) + " B)",
                 std::to_string(l.in_flight), l.last_error.empty() ? "-" : l.last_error});
    }
    out += lanes.str();
  }
  if (!s.intake.empty()) {
    out += "\n";
    table intake({"INTAKE", "ADDRESS", "REQUESTS", "ITEMS", "BAD", "CONNECTIONS"});
    for (const auto& i : s.intake) {
      intake.row({i.protocol, i.address, std::to_string(i.requests), std::to_string(i.items),
                  std::to_string(i.bad), std::to_string(i.open_connections)});
    }
    out += intake.str();
  }
  return out;
}

}  // namespace sidelight::admin
