// systemd's software watchdog (WatchdogSec=, sd_watchdog_enabled(3)) without libsystemd. While
// WATCHDOG_USEC is set for this process, a thread of its own sends WATCHDOG=1 every half of that
// time, but only when every part that must make progress answered the previous round of probes:
// the event loop runs a probe posted to it, and from there each exporter's own thread (gRPC's
// completion queue, the OTLP/HTTP I/O loop) and the intake thread run one too. A part that is
// wedged (blocked in a write, deadlocked, spinning) answers nothing, the pings stop, and systemd
// restarts sidelight once WatchdogSec has passed since the last one. Being alive is not enough:
// the watchdog thread itself never counts as progress.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sidelight::app {

// One round of probes; made with make_shared (an answer keeps the round alive).
class watchdog_round : public std::enable_shared_from_this<watchdog_round> {
 public:
  // Names a part that must answer; returns what that part calls (once, from any thread) when it
  // has run the probe.
  std::function<void()> expect(std::string part);
  bool answered() const;
  // The parts that have not answered yet, comma-separated.
  std::string waiting_for() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> pending_;
};

// The watchdog timeout systemd asks for: WATCHDOG_USEC, when WATCHDOG_PID is unset or names this
// process (as sd_watchdog_enabled reads them); zero when the watchdog is off.
std::chrono::microseconds watchdog_timeout_from(const char* usec, const char* pid);

class watchdog {
 public:
  // Probes the parts on the event loop: `probe` runs there with the round, and hands it on.
  using probe_fn = std::function<void(watchdog_round&)>;

  // A running watchdog when the environment asks for one, else nullptr.
  static std::unique_ptr<watchdog> from_environment(boost::asio::io_context& loop, probe_fn probe);

  watchdog(std::chrono::microseconds timeout, boost::asio::io_context& loop, probe_fn probe);
  ~watchdog();
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

 private:
  void run();
  std::shared_ptr<watchdog_round> start_round();

  std::chrono::microseconds period_;
  boost::asio::io_context& loop_;
  probe_fn probe_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sidelight::app
