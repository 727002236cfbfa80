// The liveness of one target slot as a pure state machine: what was observed goes in, the change
// to report comes out. No I/O, so every transition (up, down, restart, PID reuse) is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "watch/proc.hpp"

namespace sidelight::watch {

enum class change { none, up, down, restart };

std::string_view to_string(change c);

class liveness_state {
 public:
  // `pinned`: the first process seen is the service for good (a `pid:` target or one instance of
  // a process match); any other process with that PID is a stranger. `follow`: whatever process
  // the source names now is the service (pidfile, systemd unit, socket owner); a new one is a
  // restart.
  enum class policy { pinned, follow };

  explicit liveness_state(policy p) : policy_(p) {}

  // The service is up, served by `process` (nullopt when there is no process to name, as for a
  // socket whose owner cannot be seen) which started at `start_unix_ns`.
  change observe_up(const std::optional<process_identity>& process, std::int64_t start_unix_ns);
  change observe_down(std::string reason);

  bool known() const { return known_; }
  bool up() const { return up_; }
  std::uint64_t restarts() const { return restarts_; }
  const std::optional<process_identity>& process() const { return process_; }
  std::int64_t up_since_unix_ns() const { return up_since_; }
  const std::string& reason() const { return reason_; }
  // For a pinned slot: this process is not the one the slot was pinned to.
  bool is_stranger(const process_identity& p) const;

 private:
  policy policy_;
  bool known_ = false;  // observed at least once
  bool up_ = false;
  bool ever_up_ = false;
  std::uint64_t restarts_ = 0;
  std::optional<process_identity> process_;
  std::int64_t up_since_ = 0;
  std::string reason_;
};

}  // namespace sidelight::watch
