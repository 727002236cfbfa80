// Tells when one process exits: a pidfd in the event loop where the kernel has pidfd_open, a
// short /proc poll where it does not.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "watch/proc.hpp"

namespace sidelight::watch {

class exit_watch {
 public:
  explicit exit_watch(boost::asio::io_context& io) : io_(io) {}
  ~exit_watch() { cancel(); }
  exit_watch(const exit_watch&) = delete;
  exit_watch& operator=(const exit_watch&) = delete;

  // Calls `on_exit` once, from the event loop, when `process` exits (at once if it is already
  // gone or is no longer that process). Replaces any earlier watch.
  void watch(const process_identity& process, std::function<void()> on_exit);
  void cancel();
  bool active() const { return static_cast<bool>(op_); }

  // Whether this kernel supports pidfd_open (tested once).
  static bool pidfd_supported();

 private:
  struct operation;
  boost::asio::io_context& io_;
  std::shared_ptr<operation> op_;
};

}  // namespace sidelight::watch
