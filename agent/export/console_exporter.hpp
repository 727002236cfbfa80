// Prints what would go upstream: one readable line per target instance, log record or span (or,
// with `format: json`, the OTLP/JSON request on one line) on standard output; as the file
// exporter, appends the same to a file.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <variant>

#include "config/config.hpp"
#include "export/exporter.hpp"

namespace sidelight::exporting {

class console_exporter final : public exporter {
 public:
  explicit console_exporter(const config::console_exporter& cfg, std::FILE* out = stdout);
  // The file exporter: appends to cfg.path, or says why it cannot.
  static std::variant<std::unique_ptr<console_exporter>, std::string> open_file(
      const config::console_exporter& cfg);
  ~console_exporter() override;

  const std::string& name() const override { return name_; }
  void send(signal s, codec::payload_ptr request, done_fn done) override;
  void shutdown() override {}

  // The readable form of an ExportMetricsServiceRequest, one line per resource.
  static std::string format_metrics_text(std::string_view request);
  // One line per log record, or per span.
  static std::string format_logs_text(std::string_view request);
  static std::string format_spans_text(std::string_view request);

 private:
  std::string name_;
  config::console_exporter::format style_;
  std::FILE* out_;
  bool owns_ = false;  // out_ is a file this exporter opened
};

}  // namespace sidelight::exporting
