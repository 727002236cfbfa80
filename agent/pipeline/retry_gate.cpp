#include "pipeline/retry_gate.hpp"

#include <algorithm>

namespace sidelight::pipeline {

namespace {
using namespace std::chrono_literals;
// While flushing for shutdown, waiting out a long backoff would only waste the deadline.
constexpr std::chrono::nanoseconds kFlushRetry = 200ms;
}  // namespace

std::optional<std::chrono::nanoseconds> retry_gate::schedule(
    std::optional<std::chrono::milliseconds> hint, bool flushing, bool losing) {
  if (state_ == state::waiting) return std::nullopt;
  state_ = state::waiting;
  std::chrono::nanoseconds wait = backoff_.next();
  if (losing) wait = std::min<std::chrono::nanoseconds>(wait, kLosingRetry);
  auto delay = std::max<std::chrono::nanoseconds>(wait, hint.value_or(0ms));
  return flushing ? std::min(delay, kFlushRetry) : delay;
}

bool retry_gate::succeeded() {
  bool back = !upstream_ok_;
  upstream_ok_ = true;
  refused();
  return back;
}

void retry_gate::refused() {
  state_ = state::open;
  backoff_.reset();
}

}  // namespace sidelight::pipeline
