#include "export/console_exporter.hpp"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <ctime>
#include <map>

#include "codec/otlp_json.hpp"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "sys/bounded_file.hpp"

namespace sidelight::exporting {
namespace {

namespace otlp = opentelemetry::proto;

std::string value_text(const otlp::common::v1::AnyValue& v) {
  switch (v.value_case()) {
    case otlp::common::v1::AnyValue::kStringValue:
      return v.string_value();
    case otlp::common::v1::AnyValue::kIntValue:
      return std::to_string(v.int_value());
    case otlp::common::v1::AnyValue::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case otlp::common::v1::AnyValue::kDoubleValue: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", v.double_value());
      return buf;
    }
    default:
      return "…";
  }
}

double number(const otlp::metrics::v1::NumberDataPoint& dp) {
  return dp.value_case() == otlp::metrics::v1::NumberDataPoint::kAsInt
             ? static_cast<double>(dp.as_int())
             : dp.as_double();
}

std::string clock_text(std::uint64_t unix_ns) {
  std::time_t secs = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  ::localtime_r(&secs, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>((unix_ns / 1'000'000) % 1000));
  return buf;
}

std::string duration_text(double seconds) {
  char buf[32];
  auto s = static_cast<std::int64_t>(seconds);
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s / 60) % 60);
  }
  return buf;
}

}  // namespace

console_exporter::console_exporter(const config::console_exporter& cfg, std::FILE* out)
    : name_(cfg.name), style_(cfg.style), out_(out) {}

std::variant<std::unique_ptr<console_exporter>, std::string> console_exporter::open_file(
    const config::console_exporter& cfg) {
  // Only a regular file: a FIFO would block the event loop at the open (and at every write once
  // full), a device is nothing to append OTLP to.
  std::string why;
  int fd = sys::open_append(cfg.path, 0644, why);
  if (fd < 0) return cfg.path + " " + why;
  std::FILE* f = ::fdopen(fd, "a");
  if (!f) {
    int err = errno;
    ::close(fd);
    return cfg.path + ": " + std::strerror(err);
  }
  auto e = std::make_unique<console_exporter>(cfg, f);
  e->owns_ = true;
  return e;
}

console_exporter::~console_exporter() {
  if (owns_) std::fclose(out_);
}

std::string console_exporter::format_metrics_text(std::string_view request) {
  otlp::collector::metrics::v1::ExportMetricsServiceRequest req;
  if (!req.ParseFromArray(request.data(), static_cast<int>(request.size())))
    return "(unreadable metrics request)\n";
  std::string out;
  for (const auto& rm : req.resource_metrics()) {
    std::map<std::string, std::string> attrs;
    for (const auto& kv : rm.resource().attributes())
      attrs[kv.key()] = value_text(kv.value());
    std::string status = "?";
    std::uint64_t when = 0;
    std::string details;
    double cpu = 0;
    bool have_cpu = false;
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) {
        const auto& points = m.has_gauge() ? m.gauge().data_points() : m.sum().data_points();
        if (points.empty()) continue;
        const auto& dp = points[0];
        when = std::max<std::uint64_t>(when, dp.time_unix_nano());
        const auto& name = m.name();
        char buf[64];
        if (name == "service.heartbeat") {
          status = number(dp) > 0 ? "UP  " : "DOWN";
        } else if (name == "service.uptime_seconds") {
          details += " uptime=" + duration_text(number(dp));
        } else if (name == "service.restarts") {
          std::snprintf(buf, sizeof buf, " restarts=%.0f", number(dp));
          details += buf;
        } else if (name == "service.probe.duration") {
          std::snprintf(buf, sizeof buf, " probe=%.1fms", number(dp) * 1000);
          details += buf;
        } else if (name == "process.cpu.time") {
          for (const auto& p : points)
            cpu += number(p);
          have_cpu = true;
        } else if (name == "process.memory.usage") {
          std::snprintf(buf, sizeof buf, " rss=%.1fMiB", number(dp) / (1 << 20));
          details += buf;
        } else if (name.starts_with("sidelight.")) {
          std::snprintf(buf, sizeof buf, " %s=%.0f", name.c_str() + 10, number(dp));
          details += buf;
        }
      }
    }
    if (have_cpu) {
      char buf[32];
      std::snprintf(buf, sizeof buf, " cpu=%.2fs", cpu);
      details += buf;
    }
    std::string line = clock_text(when) + "  " + status + "  " + attrs["service.name"];
    if (attrs.count("process.pid")) line += " pid=" + attrs["process.pid"];
    line += details;
    if (attrs.count("service.instance.id")) {
      line += " instance=" + attrs["service.instance.id"].substr(0, 8);
    }
    out += line + "\n";
  }
  return out;
}

namespace {

std::string resource_name(const otlp::resource::v1::Resource& r) {
  for (const auto& kv : r.attributes())
    if (kv.key() == "service.name") return kv.value().string_value();
  return "-";
}

std::string short_hex(const std::string& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < id.size() && i < 4; ++i) {
    auto c = static_cast<unsigned char>(id[i]);
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string attributes_text(
    const google::protobuf::RepeatedPtrField<otlp::common::v1::KeyValue>& attrs) {
  std::string out;
  for (const auto& kv : attrs)
    out += " " + kv.key() + "=" + value_text(kv.value());
  return out;
}

}  // namespace

std::string console_exporter::format_logs_text(std::string_view request) {
  otlp::collector::logs::v1::ExportLogsServiceRequest req;
  if (!req.ParseFromArray(request.data(), static_cast<int>(request.size())))
    return "(a logs request that does not parse)\n";
  std::string out;
  for (const auto& rl : req.resource_logs()) {
    auto service = resource_name(rl.resource());
    for (const auto& sl : rl.scope_logs()) {
      for (const auto& lr : sl.log_records()) {
        auto when = lr.time_unix_nano() ? lr.time_unix_nano() : lr.observed_time_unix_nano();
        std::string level = lr.severity_text().empty() ? "-" : lr.severity_text();
        out += clock_text(when) + "  LOG   " + service + " " + level + " " + value_text(lr.body());
        if (!lr.trace_id().empty()) out += " trace=" + short_hex(lr.trace_id());
        out += attributes_text(lr.attributes()) + "\n";
      }
    }
  }
  return out;
}

std::string console_exporter::format_spans_text(std::string_view request) {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  if (!req.ParseFromArray(request.data(), static_cast<int>(request.size())))
    return "(a traces request that does not parse)\n";
  std::string out;
  for (const auto& rs : req.resource_spans()) {
    auto service = resource_name(rs.resource());
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& sp : ss.spans()) {
        char ms[32];
        std::snprintf(
            ms, sizeof ms, "%.1fms",
            static_cast<double>(sp.end_time_unix_nano() - sp.start_time_unix_nano()) / 1e6);
        out += clock_text(sp.start_time_unix_nano()) + "  SPAN  " + service + " " + sp.name() +
               " " + ms + " trace=" + short_hex(sp.trace_id());
        if (sp.status().code() == otlp::trace::v1::Status::STATUS_CODE_ERROR) out += " ERROR";
        out += attributes_text(sp.attributes()) + "\n";
      }
    }
  }
  return out;
}

void console_exporter::send(signal s, codec::payload_ptr request, done_fn done) {
  std::string text;
  if (style_ == config::console_exporter::format::json) {
    auto msg = codec::new_request(s);
    if (msg->ParseFromArray(request->data(), static_cast<int>(request->size())))
      text = codec::to_otlp_json(*msg);
    text += "\n";
  } else if (s == signal::metrics) {
    text = format_metrics_text(*request);
  } else if (s == signal::logs) {
    text = format_logs_text(*request);
  } else {
    text = format_spans_text(*request);
  }
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
  done(export_outcome{});
}

}  // namespace sidelight::exporting
