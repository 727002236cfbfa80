#include "config/admin.hpp"

#include "config/address.hpp"
#include "config/schema.hpp"

namespace sidelight::config {
namespace {

// HOST:PORT, unix:/path or /path, or "" for off.
std::string listen_problem(const std::string& text) {
  if (text.empty() || text.starts_with("unix:") || text.starts_with("/")) return "";
  std::string host;
  std::uint16_t port = 0;
  if (split_host_port(text, host, port)) return "";
  return "expected HOST:PORT such as 127.0.0.1:13133, or unix:/path/to.sock, got '" + text + "'";
}

}  // namespace

const schema::table<admin_settings>& admin_table() {
  using namespace schema;
  using s = admin_settings;
  static const table<s> keys({
      text_key("listen", &s::listen,
               "Where the admin endpoints listen: HOST:PORT (port 0: any free port, logged at "
               "start), or unix:/path for a socket; \"\" turns them off. HTTP, GET only: "
               "/healthz, /readyz (503 while an exporter's upstream is failing; "
               "/readyz?upstream=ignore leaves the upstreams out, for a sidecar), /metrics "
               "(Prometheus text), /api/v1/status (JSON, what `sidelight status` reads) and / (a "
               "status page). In a pod, listen on 0.0.0.0:13133 so that the kubelet's probes "
               "reach it. Changes take effect at the next start.",
               {.check = listen_problem}),
  });
  return keys;
}

}  // namespace sidelight::config
