#include "config/config.hpp"

#include "config/schema.hpp"

namespace sidelight::config {

const schema::table<config>& config_table() {
  using namespace schema;
  using s = config;
  static const table<s> keys(
      {
          attributes_key("resource", &s::resource,
                         "Attributes added to every target's Resource and, with intake, to "
                         "every client's (a client's own attributes are never replaced). "
                         "OTEL_RESOURCE_ATTRIBUTES (k=v,k=v) is read first; keys here win."),
          section_key("heartbeat", &s::heartbeat, heartbeat_table(),
                      "How often each target's state is exported."),
          list_key("targets", &s::targets, target_table(), "list of targets",
                   "What to watch. Each target has a name (its service.name) and exactly one "
                   "identity: pid, pidfile, process, systemd_unit or socket.",
                   check_unique_names),
          section_key("intake", &s::intake, intake_table(),
                      "Local intake: applications hand over spans, logs and metrics on Unix "
                      "sockets (and, opt-in, loopback TCP). Data from a process that is a watched "
                      "target gets that target's resource attributes where the client left them "
                      "out; `resource` and host.name are added to everything. Listener changes "
                      "take effect at the next start."),
          section_key("queue", &s::queue, queue_table(),
                      "One queue per signal (traces, metrics, logs) per exporter, for client "
                      "telemetry. Heartbeats do not go through these queues and are never "
                      "dropped for them."),
          section_key("batch", &s::batch, batch_table(),
                      "How queued telemetry is cut into requests upstream."),
          custom_key<s>("exporters",
                        {.type = "map of TYPE or TYPE/NAME", .children = describe_exporters},
                        "Where telemetry goes; every exporter gets everything, through its own "
                        "queues. With none here and OTEL_EXPORTER_OTLP_ENDPOINT unset, a text "
                        "console exporter is used. OTEL_EXPORTER_OTLP_{ENDPOINT, HEADERS, "
                        "PROTOCOL, COMPRESSION, TIMEOUT (ms), INSECURE, CERTIFICATE} give "
                        "defaults for otlp exporters; keys here win.",
                        [](const field& f, s& c) { read_exporters(f, c.exporters); }),
          section_key("admin", &s::admin, admin_table(), "The admin endpoints."),
          section_key("log", &s::log, log_table(), "sidelight's own log, on stderr."),
          duration_key("shutdown_timeout", &s::shutdown_timeout,
                       "The deadline of the final export at SIGTERM or SIGINT."),
      },
      [](const map_view& m, s& c) {
        default_exporters(m.ctx(), c.exporters);
        for (auto& t : c.targets)
          resolve_probe_interval(t, c.heartbeat.interval);
      });
  return keys;
}

config read_config(parse_context& ctx, const YAML::Node& doc) {
  config cfg;
  cfg.source = ctx.file();
  const auto& env = ctx.env();
  if (auto attrs = env("OTEL_RESOURCE_ATTRIBUTES")) {
    bool ok = true;
    for (auto& [k, v] : parse_key_value_list(*attrs, ok))
      cfg.resource.emplace_back(k, v);
    if (!ok) {
      ctx.warning(doc, "OTEL_RESOURCE_ATTRIBUTES",
                  "has entries that are not key=value; they are ignored");
    }
  }
  if (auto name = env("OTEL_SERVICE_NAME"); name && !name->empty()) {
    cfg.self_service_name = *name;
  }
  config_table().read(ctx, doc, "", cfg);
  return cfg;
}

}  // namespace sidelight::config
