// The exporters section: a map of TYPE or TYPE/NAME to each exporter's settings.
#pragma once

#include <vector>

#include "config/console_exporter.hpp"
#include "config/otlp_exporter.hpp"

namespace sidelight::config {

struct exporters_settings {
  std::vector<otlp_exporter> otlp;
  std::vector<console_exporter> console;
  bool empty() const { return otlp.empty() && console.empty(); }
};

class parse_context;

// Reads `exporters:`, a map of TYPE or TYPE/NAME to each exporter's settings.
void read_exporters(const schema::field& f, exporters_settings& out);
// Without an exporter in the file: the one OTEL_EXPORTER_OTLP_ENDPOINT names, else the console.
void default_exporters(parse_context& ctx, exporters_settings& out);
// The exporter types and their keys, for the reference.
std::vector<schema::key_doc> describe_exporters();

}  // namespace sidelight::config
