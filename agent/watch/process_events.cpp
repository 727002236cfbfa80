#include "watch/process_events.hpp"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "watch/exit_reason.hpp"

namespace sidelight::watch {

process_events::process_events(boost::asio::io_context& io) : socket_(io) {}

process_events::~process_events() {
  close();
}

bool process_events::open() {
  if (socket_.is_open()) return true;
  int fd = ::socket(PF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd < 0) {
    error_ = std::string("netlink connector unavailable: ") + std::strerror(errno);
    return false;
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error_ = std::string("cannot join the process event group: ") + std::strerror(errno);
    ::close(fd);
    return false;
  }
  // nlmsghdr | cn_msg | proc_cn_mcast_op, laid out by hand: cn_msg ends in a
  // flexible array member, so it cannot be a member of a struct.
  alignas(nlmsghdr) unsigned char req[NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_cn_mcast_op))]{};
  auto* header = reinterpret_cast<nlmsghdr*>(req);
  header->nlmsg_len = sizeof req;
  header->nlmsg_type = NLMSG_DONE;
  header->nlmsg_pid = static_cast<__u32>(::getpid());
  cn_msg message{};
  message.id.idx = CN_IDX_PROC;
  message.id.val = CN_VAL_PROC;
  message.len = sizeof(proc_cn_mcast_op);
  std::memcpy(NLMSG_DATA(header), &message, sizeof message);
  proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
  std::memcpy(static_cast<unsigned char*>(NLMSG_DATA(header)) + sizeof message, &op, sizeof op);
  if (::send(fd, req, sizeof req, 0) < 0) {
    error_ = std::string("cannot subscribe to process events: ") + std::strerror(errno);
    ::close(fd);
    return false;
  }
  // Bursts of process churn must not overflow us into a rescan too often.
  int size = 1 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  socket_.assign(fd);
  read();
  return true;
}

void process_events::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

std::size_t process_events::subscribe(handler h) {
  handlers_.emplace(next_id_, std::move(h));
  return next_id_++;
}

void process_events::unsubscribe(std::size_t id) {
  handlers_.erase(id);
}

std::size_t process_events::subscribe_exits(exit_handler h) {
  exit_handlers_.emplace(next_id_, std::move(h));
  return next_id_++;
}

void process_events::unsubscribe_exits(std::size_t id) {
  exit_handlers_.erase(id);
}

void process_events::dispatch(kind k, pid_t pid) {
  // A handler may unsubscribe (itself or another) while we iterate.
  std::vector<std::size_t> ids;
  ids.reserve(handlers_.size());
  for (auto& [id, h] : handlers_)
    ids.push_back(id);
  for (auto id : ids) {
    auto it = handlers_.find(id);
    if (it != handlers_.end()) it->second(k, pid);
  }
}

void process_events::dispatch_exit(pid_t pid, std::uint32_t wait_status) {
  std::vector<std::size_t> ids;
  for (auto& [id, h] : exit_handlers_)
    ids.push_back(id);
  for (auto id : ids) {
    auto it = exit_handlers_.find(id);
    if (it != exit_handlers_.end()) it->second(pid, wait_status);
  }
}

void process_events::read() {
  socket_.async_wait(
      boost::asio::posix::stream_descriptor::wait_read,
      [this, weak = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
        if (weak.expired() || ec) return;
        alignas(nlmsghdr) char buf[16384];
        for (;;) {
          ssize_t n = ::recv(socket_.native_handle(), buf, sizeof buf, 0);
          if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {
              dispatch(kind::lost, 0);  // the kernel dropped events: subscribers rescan
              continue;
            }
            break;
          }
          for (const auto& ev : decode_proc_events(buf, static_cast<std::size_t>(n))) {
            switch (ev.what) {
              case proc_event_record::kind::fork:
                dispatch(kind::fork, ev.pid);
                break;
              case proc_event_record::kind::exec:
                dispatch(kind::exec, ev.pid);
                break;
              case proc_event_record::kind::comm:
                dispatch(kind::comm, ev.pid);
                break;
              case proc_event_record::kind::exit:
                dispatch_exit(ev.pid, ev.wait_status);
                break;
            }
          }
        }
        if (!weak.expired() && socket_.is_open()) read();
      });
}

}  // namespace sidelight::watch
