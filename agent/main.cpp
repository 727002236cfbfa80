#include <absl/synchronization/mutex.h>

#include "app/cli.hpp"

namespace {

// Debian's Abseil is built with assertions, so every absl::Mutex that gRPC takes also updates a
// lock-order graph to detect deadlocks: a few per cent of the CPU on the intake path. Builds
// with NDEBUG (all but Debug) turn that off.
void skip_mutex_deadlock_detection() {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  skip_mutex_deadlock_detection();
  return sidelight::app::run_command_line(argc, argv);
}
