// The config stage owns the agent's configuration: the YAML schema, its defaults, `${env:…}`
// expansion, the standard OTEL_* variables, and validation that reports every problem at once with
// file:line:column. Each section's struct sits in its own header beside the table of its keys
// (schema.hpp), whose name, type, default, range and help the loader reads and the reference docs
// are generated from. Everything downstream receives a validated, immutable `config` and never
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

#include "config/admin.hpp"
#include "config/common.hpp"
#include "config/exporters.hpp"
#include "config/heartbeat.hpp"
#include "config/intake.hpp"
#include "config/log.hpp"
#include "config/queue.hpp"
#include "config/targets.hpp"

namespace sidelight::config {

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

// The top level of the file.
const schema::table<config>& config_table();

}  // namespace sidelight::config

namespace sidelight::config {

// Equal fingerprints mean a reload can keep the running watcher (or exporter) as it is.
std::string watch_fingerprint(const target& t);
std::string exporter_fingerprint(const otlp_exporter& e);
std::string intake_fingerprint(const intake_settings& in);
// Queue and batch settings: exporters' lanes are rebuilt when they change.
std::string pipeline_fingerprint(const config& c);

}  // namespace sidelight::config
