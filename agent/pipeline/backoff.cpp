#include "pipeline/backoff.hpp"

#include <algorithm>

namespace sidelight::pipeline {

std::chrono::nanoseconds backoff::next() {
  double ceiling = static_cast<double>(settings_.initial_interval.count());
  for (int i = 0; i < attempt_ && ceiling < static_cast<double>(settings_.max_interval.count());
       ++i) {
    ceiling *= settings_.multiplier;
  }
  ceiling = std::min(ceiling, static_cast<double>(settings_.max_interval.count()));
  ++attempt_;
  // Jitter in [ceiling/2, ceiling]: spread out many agents without ever retrying at once.
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(ceiling * jitter(rng_)));
}

}  // namespace sidelight::pipeline
