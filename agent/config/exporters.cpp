#include "config/exporters.hpp"

#include "config/schema.hpp"

namespace sidelight::config {
namespace {

const std::vector<std::string_view> kTypes = {"otlp", "console", "file"};

void read_otlp(parse_context& ctx, const map_view::entry& e, const std::string& path,
               exporters_settings& out) {
  otlp_exporter x;
  x.name = e.name;
  x.where = ctx.where(e.key);
  if (!apply_otel_exporter_env(ctx.env(), x)) {
    ctx.warning(e.key, path,
                "OTEL_EXPORTER_OTLP_HEADERS has entries that are not key=value; they are ignored");
  }
  otlp_exporter_table().read(ctx, e.value, path, x);
  out.otlp.push_back(std::move(x));
}

}  // namespace

void read_exporters(const schema::field& f, exporters_settings& out) {
  auto& ctx = f.ctx();
  map_view m(ctx, f.node(), f.path(), {});
  if (!m.valid()) return;
  for (const auto& e : m.entries()) {
    auto slash = e.name.find('/');
    std::string type = e.name.substr(0, slash);
    if (slash != std::string::npos && slash + 1 == e.name.size()) {
      m.error_at_key(e.name, "expected TYPE or TYPE/NAME");
    } else if (type == "otlp") {
      read_otlp(ctx, e, m.join(e.name), out);
    } else if (type == "console" || type == "file") {
      console_exporter x;
      x.name = e.name;
      if (type == "file") x.style = console_exporter::format::json;
      (type == "file" ? file_exporter_table() : console_exporter_table())
          .read(ctx, e.value, m.join(e.name), x);
      out.console.push_back(std::move(x));
    } else {
      auto hint = did_you_mean(type, kTypes);
      m.error_at_key(e.name, "unknown exporter type '" + type + "'" +
                                 (hint ? "; did you mean '" + *hint + "'?" : std::string()) +
                                 " (known: " + join_words(kTypes) + ")");
    }
  }
}

void default_exporters(parse_context& ctx, exporters_settings& out) {
  if (!out.empty()) return;
  // With no exporter in the file, OTEL_EXPORTER_OTLP_ENDPOINT alone is enough to export upstream.
  if (auto endpoint = ctx.env()("OTEL_EXPORTER_OTLP_ENDPOINT"); endpoint && !endpoint->empty()) {
    YAML::Node synthetic(YAML::NodeType::Map);
    read_otlp(ctx, {"otlp", synthetic, YAML::Node(YAML::NodeType::Map)},
              "OTEL_EXPORTER_OTLP_ENDPOINT.otlp", out);
    return;
  }
  out.console.push_back({"console", console_exporter::format::text, ""});
}

std::vector<schema::key_doc> describe_exporters() {
  using schema::key_doc;
  console_exporter file;
  file.style = console_exporter::format::json;
  auto section = [](std::string name, std::string help, std::vector<key_doc> keys) {
    return key_doc{.name = std::move(name),
                   .type = "section",
                   .help = std::move(help),
                   .form = key_doc::shape::section,
                   .children = std::move(keys)};
  };
  return {
      section("otlp", "An OTLP/gRPC or OTLP/HTTP exporter; several as otlp/NAME.",
              otlp_exporter_table().describe(otlp_exporter{})),
      section("console", "Prints what is exported on standard output; several as console/NAME.",
              console_exporter_table().describe(console_exporter{})),
      section("file", "Appends what is exported to a file; several as file/NAME.",
              file_exporter_table().describe(file)),
  };
}

}  // namespace sidelight::config
