// An OTLP exporter's retry settings: exponential backoff with jitter.
#pragma once

#include "config/common.hpp"

namespace sidelight::config {

struct retry_settings {
  bool enabled = true;
  duration initial_interval = std::chrono::seconds(1);
  duration max_interval = std::chrono::seconds(30);
  double multiplier = 2.0;
  duration max_elapsed_time = std::chrono::minutes(5);  // 0: retry forever
};

const schema::table<retry_settings>& retry_table();

}  // namespace sidelight::config
