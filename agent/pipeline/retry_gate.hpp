// When a lane may send, as a pure state machine shared by both kinds of lane: after a retryable
// failure the upstream counts as failing and the gate closes; after a backoff (never shorter
// than the upstream's hint, which the exporter has already bounded by retry.max_interval) it lets
// one request through as a probe; the first success opens it again. No timers and no I/O here,
// so every transition is unit-tested; the lane arms its timer for the delays this returns.
#pragma once

#include <chrono>
#include <optional>

#include "config/config.hpp"
#include "pipeline/backoff.hpp"

namespace sidelight::pipeline {

class retry_gate {
 public:
  explicit retry_gate(const config::retry_settings& retry) : backoff_(retry) {}

  bool upstream_ok() const { return upstream_ok_; }
  bool open() const { return state_ == state::open; }
  bool waiting() const { return state_ == state::waiting; }  // a probe is scheduled
  bool probing() const { return state_ == state::probing; }  // a probe is under way

  // A request failed in a way worth retrying.
  void failing() { upstream_ok_ = false; }
  // While a lane drops data waiting for the upstream, it probes at least this often (unless the
  // upstream asked for longer): a probe is one request, and every second of backoff after the
  // upstream is back is a second of data dropped.
  static constexpr std::chrono::milliseconds kLosingRetry{250};

  // Something waits for the upstream: the delay before the probe, when the lane must arm its
  // timer now; nullopt when a probe is already scheduled. `flushing`: the shutdown deadline is
  // all that is left, so no wait exceeds 200 ms. `losing`: the lane drops data meanwhile, so the
  // backoff stops at kLosingRetry.
  std::optional<std::chrono::nanoseconds> schedule(std::optional<std::chrono::milliseconds> hint,
                                                   bool flushing, bool losing = false);
  // The timer fired and a waiting request goes as the probe.
  void probe() { state_ = state::probing; }
  // Nothing waits any more: new requests may go, and the next one finds out.
  void reopen() { state_ = state::open; }
  // The upstream answered: the gate opens and the backoff starts again. True when it had been
  // failing (it is back).
  bool succeeded();
  // The upstream answered but refused for good: it is reachable, so the gate opens and the
  // backoff starts again; whether it counts as failing does not change.
  void refused();

 private:
  enum class state { open, waiting, probing };

  backoff backoff_;
  state state_ = state::open;
  bool upstream_ok_ = true;
};

}  // namespace sidelight::pipeline
