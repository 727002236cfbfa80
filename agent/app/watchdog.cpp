#include "app/watchdog.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdlib>

#include "app/notify.hpp"

namespace sidelight::app {

std::function<void()> watchdog_round::expect(std::string part) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(part);
  }
  return [self = shared_from_this(), part = std::move(part)] {
    std::lock_guard lock(self->mutex_);
    auto& pending = self->pending_;
    if (auto it = std::find(pending.begin(), pending.end(), part); it != pending.end()) {
      pending.erase(it);
    }
  };
}

bool watchdog_round::answered() const {
  std::lock_guard lock(mutex_);
  return pending_.empty();
}

std::string watchdog_round::waiting_for() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& p : pending_)
    out += (out.empty() ? "" : ", ") + p;
  return out;
}

std::chrono::microseconds watchdog_timeout_from(const char* usec, const char* pid) {
  if (usec == nullptr || *usec == '\0') return {};
  char* end = nullptr;
  unsigned long long value = std::strtoull(usec, &end, 10);
  if (*end != '\0' || value == 0) return {};
  if (pid != nullptr && *pid != '\0') {
    long owner = std::strtol(pid, &end, 10);
    if (*end != '\0' || owner != static_cast<long>(::getpid())) return {};
  }
  return std::chrono::microseconds(value);
}

std::unique_ptr<watchdog> watchdog::from_environment(boost::asio::io_context& loop,
                                                     probe_fn probe) {
  auto timeout = watchdog_timeout_from(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"));
  if (timeout.count() == 0) return nullptr;
  spdlog::info("watchdog: telling systemd every {:.1f}s while the event loop and exporters answer",
               std::chrono::duration<double>(timeout).count() / 2);
  return std::make_unique<watchdog>(timeout, loop, std::move(probe));
}

watchdog::watchdog(std::chrono::microseconds timeout, boost::asio::io_context& loop, probe_fn probe)
    : period_(timeout / 2), loop_(loop), probe_(std::move(probe)) {
  thread_ = std::thread([this] { run(); });
  ::pthread_setname_np(thread_.native_handle(), "sl-watchdog");
}

watchdog::~watchdog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<watchdog_round> watchdog::start_round() {
  auto round = std::make_shared<watchdog_round>();
  // Expected before it is posted, so the round cannot look answered before the loop ran it.
  auto loop_ran = round->expect("event loop");
  boost::asio::post(loop_, [round, loop_ran, probe = probe_] {
    probe(*round);
    loop_ran();
  });
  return round;
}

void watchdog::run() {
  auto round = start_round();
  auto stalled_since = std::chrono::steady_clock::time_point{};
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period_, [this] { return stopping_; })) {
    auto now = std::chrono::steady_clock::now();
    if (!round->answered()) {
      // Once per stall: systemd restarts sidelight when WatchdogSec passes without a ping.
      if (stalled_since == std::chrono::steady_clock::time_point{}) {
        stalled_since = now;
        spdlog::error("watchdog: no progress from {}; not telling systemd", round->waiting_for());
      }
      continue;
    }
    if (stalled_since != std::chrono::steady_clock::time_point{}) {
      spdlog::warn("watchdog: progress again after {:.1f}s",
                   std::chrono::duration<double>(now - stalled_since).count());
      stalled_since = {};
    }
    notify_systemd("WATCHDOG=1");
    round = start_round();
  }
}

}  // namespace sidelight::app
