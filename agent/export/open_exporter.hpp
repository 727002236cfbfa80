// Building the exporter a configuration asks for: OTLP/gRPC or OTLP/HTTP, one endpoint or several
// behind a failover or round-robin, or the console and file exporter.
#pragma once

#include <memory>
#include <string>
#include <variant>

#include "config/config.hpp"
#include "export/exporter.hpp"

namespace sidelight::exporting {

struct opened_exporter {
  std::shared_ptr<exporter> upstream;
  std::string shown;  // where it sends, for `sidelight status`: endpoints, a path, or "stdout"
};

// The exporter, or the error text that kept it from starting. Logs what it opened.
std::variant<opened_exporter, std::string> open_exporter(const config::otlp_exporter& cfg);
std::variant<opened_exporter, std::string> open_exporter(const config::console_exporter& cfg);

}  // namespace sidelight::exporting
