// An OTLP exporter's TLS settings.
#pragma once

#include "config/common.hpp"

namespace sidelight::config {

struct tls_settings {
  bool insecure = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
};

const schema::table<tls_settings>& tls_table();

}  // namespace sidelight::config
