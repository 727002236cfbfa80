// Exponential backoff with jitter, shared by every lane that retries an upstream.
#pragma once

#include <chrono>
#include <random>

#include "config/config.hpp"

namespace sidelight::pipeline {

// Each delay is drawn from [ceiling/2, ceiling], where the ceiling starts at `initial_interval`
// and grows by `multiplier` per attempt up to `max_interval`.
class backoff {
 public:
  explicit backoff(const config::retry_settings& r) : settings_(r), rng_(std::random_device{}()) {}
  std::chrono::nanoseconds next();
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  config::retry_settings settings_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace sidelight::pipeline
