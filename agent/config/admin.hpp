// The admin section: where the health, metrics and status endpoints listen.
#pragma once

#include "config/common.hpp"

namespace sidelight::config {

struct admin_settings {
  std::string listen = "127.0.0.1:13133";  // host:port or unix:PATH; empty disables
};

const schema::table<admin_settings>& admin_table();

}  // namespace sidelight::config
