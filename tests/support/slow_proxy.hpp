// A TCP relay on 127.0.0.1 that holds each new connection for a while before it connects it
// through to the target: an upstream that is healthy but slow to finish its handshake, like one
// across a long network path or behind a TLS terminator under load.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sidelight::test {

class slow_proxy {
 public:
  slow_proxy(std::uint16_t target_port, std::chrono::milliseconds connect_delay);
  ~slow_proxy();
  slow_proxy(const slow_proxy&) = delete;
  slow_proxy& operator=(const slow_proxy&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::size_t connections() const { return connections_.load(); }

 private:
  void accept_loop();
  void relay(int client);

  std::uint16_t target_port_;
  std::chrono::milliseconds delay_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> relays_;
};

}  // namespace sidelight::test
