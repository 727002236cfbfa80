// The kernel's process events (fork, exec, comm change, exit) from the netlink process connector,
// so new processes are seen as they start instead of at the next /proc scan, and an exit's wait
// status is known for any process. Needs CAP_NET_ADMIN;
// without it open() fails and process targets fall back to scanning.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace sidelight::watch {

class process_events {
 public:
  enum class kind { fork, exec, comm, lost };
  using handler = std::function<void(kind, pid_t)>;

  explicit process_events(boost::asio::io_context& io);
  ~process_events();
  process_events(const process_events&) = delete;
  process_events& operator=(const process_events&) = delete;

  // Subscribes to the connector; on failure returns false and error() says why.
  bool open();
  void close();
  const std::string& error() const { return error_; }

  std::size_t subscribe(handler h);
  void unsubscribe(std::size_t id);

  // Exits of whole processes, with the wait status.
  using exit_handler = std::function<void(pid_t, std::uint32_t wait_status)>;
  std::size_t subscribe_exits(exit_handler h);
  void unsubscribe_exits(std::size_t id);

 private:
  void read();
  void dispatch(kind k, pid_t pid);
  void dispatch_exit(pid_t pid, std::uint32_t wait_status);

  boost::asio::posix::stream_descriptor socket_;
  std::map<std::size_t, handler> handlers_;
  std::map<std::size_t, exit_handler> exit_handlers_;
  std::size_t next_id_ = 1;
  std::string error_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sidelight::watch
