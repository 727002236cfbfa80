// The PEM files an exporter's `tls:` names, read when the exporter is built (on the event loop,
// at a reload): without blocking, so a FIFO in their place is refused rather than waited on, and
// within 4 MiB each.
#pragma once

#include <string>
#include <variant>

#include "config/config.hpp"

namespace sidelight::exporting {

struct tls_files {
  std::string ca;  // empty: the system's roots
  std::string cert_chain;
  std::string private_key;
};

// The files' contents, or "cannot read PATH: it …".
std::variant<tls_files, std::string> read_tls_files(const config::tls_settings& tls);

}  // namespace sidelight::exporting
