// An OTLP exporter's TLS settings.
#pragma once

#include "config/common.hpp"
#include "sys/bounded_file.hpp"

namespace sidelight::config {

struct tls_settings {
  bool insecure = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
};

// A certificate, key or CA file is read within this, without blocking (a FIFO in its place is
// refused, not waited on). A CA bundle of every public root is about 200 KiB.
inline constexpr sys::read_limits kTlsFileLimits{4 << 20, sys::overflow::refuse, true};

const schema::table<tls_settings>& tls_table();

}  // namespace sidelight::config
