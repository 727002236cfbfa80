#include "export/open_exporter.hpp"

#include <spdlog/spdlog.h>

#include "export/console_exporter.hpp"
#include "export/multi_exporter.hpp"
#include "export/otlp_grpc_exporter.hpp"
#include "export/otlp_http_exporter.hpp"

namespace sidelight::exporting {

namespace {

template <class E>
std::variant<std::shared_ptr<exporter>, std::string> open_one(const config::otlp_exporter& cfg) {
  auto made = E::create(cfg);
  if (auto* err = std::get_if<std::string>(&made)) return *err;
  return std::shared_ptr<exporter>(std::move(std::get<0>(made)));
}

std::string describe(const config::otlp_exporter& one) {
  return one.target.text + (one.use_tls() ? " (TLS" : " (plaintext") +
         (one.codec == config::otlp_exporter::compression::gzip ? ", gzip)" : ")");
}

}  // namespace

std::variant<opened_exporter, std::string> open_exporter(const config::otlp_exporter& cfg) {
  bool http = cfg.wire == config::otlp_exporter::protocol::http_protobuf;
  std::vector<multi_exporter::member> members;
  std::string endpoints;
  std::string shown;
  for (const auto& t : cfg.targets) {
    auto one = cfg;
    one.target = t;
    auto made = http ? open_one<otlp_http_exporter>(one) : open_one<otlp_grpc_exporter>(one);
    if (auto* err = std::get_if<std::string>(&made)) return "exporter " + cfg.name + ": " + *err;
    members.push_back({std::move(std::get<0>(made)), t.text});
    endpoints += (endpoints.empty() ? "" : ", ") + describe(one);
    shown += (shown.empty() ? "" : ",") + t.text;
  }
  std::shared_ptr<exporter> upstream =
      members.size() == 1
          ? members.front().upstream
          : std::make_shared<multi_exporter>(cfg.name, std::move(members), cfg.balance);
  spdlog::info("exporter {}: {} to {}{}", cfg.name, http ? "OTLP/HTTP" : "OTLP/gRPC", endpoints,
               cfg.targets.size() < 2 ? ""
               : cfg.balance == config::otlp_exporter::balancing::failover
                   ? ", failing over in this order"
                   : ", taking turns");
  return opened_exporter{std::move(upstream), shown};
}

std::variant<opened_exporter, std::string> open_exporter(const config::console_exporter& cfg) {
  std::shared_ptr<exporter> upstream;
  if (cfg.path.empty()) {
    upstream = std::make_shared<console_exporter>(cfg);
  } else {
    auto made = console_exporter::open_file(cfg);
    if (auto* err = std::get_if<std::string>(&made)) return "exporter " + cfg.name + ": " + *err;
    upstream = std::move(std::get<0>(made));
  }
  spdlog::info("exporter {}: writing {} to {}", cfg.name,
               cfg.style == config::console_exporter::format::json ? "OTLP/JSON lines" : "text",
               cfg.path.empty() ? "standard output" : cfg.path);
  return opened_exporter{std::move(upstream), cfg.path.empty() ? "stdout" : cfg.path};
}

}  // namespace sidelight::exporting
