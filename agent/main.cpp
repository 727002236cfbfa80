#include <absl/synchronization/mutex.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "app/cli.hpp"

namespace {

// One malloc arena for all threads instead of one per thread that allocates. The threads that
// allocate much (gRPC's, the intake's, the exporters') then reuse each other's freed blocks: with
// OTLP/gRPC intake under overload the peak RSS is about 1 MiB lower and throughput no lower
// (docs/PERFORMANCE.md). Set before any thread starts; MALLOC_ARENA_MAX or a GLIBC_TUNABLES
// arena_max still wins.
void share_one_malloc_arena() {
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) return;
  if (const char* t = std::getenv("GLIBC_TUNABLES"); t != nullptr && std::strstr(t, "arena_max"))
    return;
  mallopt(M_ARENA_MAX, 1);
}

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
  share_one_malloc_arena();
  skip_mutex_deadlock_detection();
  return sidelight::app::run_command_line(argc, argv);
}
