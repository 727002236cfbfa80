// Sets up spdlog on standard error: readable text by default, one JSON object per line on request,
// each with the journal's "<N>" priority and no timestamp when stderr is the journal
// (app/log_format.hpp).
#pragma once

#include "config/config.hpp"

namespace sidelight::app {

void setup_logging(const config::log_settings& settings);

}  // namespace sidelight::app
