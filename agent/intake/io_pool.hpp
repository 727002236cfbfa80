// Threads for NDJSON stream connections. Decoding JSON lines is the most CPU a client can ask of
// intake, and one thread saturates with one busy writer; so each stream connection is handed, when
// accepted, to one of these threads and lives there until it closes. Each thread runs an
// io_context of its own, rather than all of them one shared io_context: a connection's handlers
// then always run on one thread, one at a time, and need no strand or lock of their own.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sidelight::intake {

class io_pool {
 public:
  io_pool(std::size_t threads, const std::string& name) {
    for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) {
      auto w = std::make_unique<worker>();
      w->thread = std::thread([raw = w.get()] { raw->io.run(); });
      ::pthread_setname_np(w->thread.native_handle(), name.substr(0, 15).c_str());
      workers_.push_back(std::move(w));
    }
  }
  ~io_pool() { stop(); }
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  // The next thread's io_context, round robin. Any thread.
  boost::asio::io_context& next() {
    auto i = next_.fetch_add(1, std::memory_order_relaxed) % workers_.size();
    return workers_[i]->io;
  }
  std::size_t size() const { return workers_.size(); }
  boost::asio::io_context& at(std::size_t i) { return workers_[i]->io; }

  // Lets each thread finish what it has (connections closed, their handlers run) and joins it.
  // Not from one of the pool's own threads. Idempotent.
  void stop() {
    for (auto& w : workers_)
      w->guard.reset();
    for (auto& w : workers_)
      if (w->thread.joinable()) w->thread.join();
  }

 private:
  struct worker {
    boost::asio::io_context io{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard{
        io.get_executor()};
    std::thread thread;
  };
  std::vector<std::unique_ptr<worker>> workers_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace sidelight::intake
