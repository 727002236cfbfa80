// Which signals' lanes push back on intake now (queue.when_full): a lane that fills up while its
// upstream answers says so here, and intake then refuses new data of that signal with a time to
// retry (NDJSON streams stop being read) instead of letting the lane drop its oldest. Shared by
// every lane of every exporter; thread-safe and lock-free, as intake asks on every request.
#pragma once

#include <array>
#include <atomic>

#include "codec/signal.hpp"

namespace sidelight::pipeline {

class pressure {
 public:
  // A lane of `s` starts (true) or stops (false) pushing back.
  void set(codec::signal s, bool on) {
    lanes_[static_cast<std::size_t>(s)].fetch_add(on ? 1 : -1, std::memory_order_relaxed);
  }
  // True while any lane of `s` pushes back.
  bool on(codec::signal s) const {
    return lanes_[static_cast<std::size_t>(s)].load(std::memory_order_relaxed) > 0;
  }

 private:
  std::array<std::atomic<int>, codec::kSignals> lanes_{};
};

}  // namespace sidelight::pipeline
