// Sets up spdlog on standard error: readable text by default, one JSON object per line on request.
#pragma once

#include "config/config.hpp"

namespace sidelight::app {

void setup_logging(const config::log_settings& settings);

}  // namespace sidelight::app
