#include "watch/liveness_state.hpp"

namespace sidelight::watch {

std::string_view to_string(change c) {
  switch (c) {
    case change::none:
      return "none";
    case change::up:
      return "up";
    case change::down:
      return "down";
    case change::restart:
      return "restart";
  }
  return "?";
}

bool liveness_state::is_stranger(const process_identity& p) const {
  return policy_ == policy::pinned && process_ && !(*process_ == p);
}

change liveness_state::observe_up(const std::optional<process_identity>& process,
                                  std::int64_t start_unix_ns) {
  if (process && is_stranger(*process)) {
    // A pinned slot never adopts another process, even one reusing the PID.
    return observe_down("process " + std::to_string(process_->pid) + " exited");
  }
  bool same_process = process_ && process && *process_ == *process;
  if (up_) {
    if (!process || same_process) return change::none;
    if (!process_) {
      // The serving process was unknown until now (a socket's owner found later): not a restart.
      process_ = process;
      up_since_ = start_unix_ns;
      return change::none;
    }
  }

  // A restart is a new process (new PID or new start time). The same process serving again (a
  // listener reopened) is only up; with no process to compare, coming back counts as a restart.
  change result = change::up;
  if (ever_up_ && !same_process) {
    ++restarts_;
    result = change::restart;
  }
  known_ = true;
  up_ = true;
  ever_up_ = true;
  process_ = process;
  up_since_ = start_unix_ns;
  reason_.clear();
  return result;
}

change liveness_state::observe_down(std::string reason) {
  bool was_known = known_;
  bool was_up = up_;
  known_ = true;
  up_ = false;
  reason_ = std::move(reason);
  // The first observation reports the state even when it is down, so the service shows at once.
  return (was_up || !was_known) ? change::down : change::none;
}

}  // namespace sidelight::watch
