#include "export/tls_files.hpp"

#include "config/tls.hpp"
#include "sys/bounded_file.hpp"

namespace sidelight::exporting {

std::variant<tls_files, std::string> read_tls_files(const config::tls_settings& tls) {
  tls_files out;
  for (auto [path, field] :
       {std::pair{&tls.ca_file, &out.ca}, std::pair{&tls.cert_file, &out.cert_chain},
        std::pair{&tls.key_file, &out.private_key}}) {
    if (path->empty()) continue;
    auto r = sys::read_file(*path, config::kTlsFileLimits);
    if (!r.ok()) return "cannot read " + *path + ": it " + sys::describe(r, config::kTlsFileLimits);
    *field = std::move(r.text);
  }
  return out;
}

}  // namespace sidelight::exporting
