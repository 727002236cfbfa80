#include "config/tls.hpp"

#include <fstream>

#include "config/schema.hpp"

namespace sidelight::config {
namespace {

// A file named here is read when the exporter starts; say so now rather than at the first export.
std::string readable(const std::string& path) {
  if (path.empty() || std::ifstream(path).good()) return "";
  return "cannot read '" + path + "'";
}

}  // namespace

const schema::table<tls_settings>& tls_table() {
  using namespace schema;
  using s = tls_settings;
  static const table<s> keys(
      {
          flag_key("insecure", &s::insecure,
                   "true: plaintext, for a HOST:PORT endpoint (http:// and unix: endpoints are "
                   "plaintext anyway). OTEL_EXPORTER_OTLP_INSECURE gives the default."),
          path_key("ca_file", &s::ca_file,
                   "PEM file of the certificate authorities the server's certificate is checked "
                   "against; default: the system's roots. OTEL_EXPORTER_OTLP_CERTIFICATE gives "
                   "the default.",
                   readable),
          path_key("cert_file", &s::cert_file,
                   "PEM client certificate for mutual TLS, with key_file.", readable),
          path_key("key_file", &s::key_file, "PEM private key of cert_file.", readable),
          text_key("server_name", &s::server_name,
                   "The name checked in the server's certificate (and sent as SNI); default: the "
                   "endpoint's host."),
      },
      [](const map_view& m, s& t) {
        if (t.cert_file.empty() != t.key_file.empty()) {
          m.error("cert_file and key_file go together");
        }
      });
  return keys;
}

}  // namespace sidelight::config
