#include "watch/exit_reason.hpp"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/wait.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "watch/k8s.hpp"
#include "watch/process_events.hpp"

namespace sidelight::watch {

std::string exit_info::down_reason() const {
  if (oom_kill && signal() == SIGKILL) return "oom_killed";
  if (!known) return "unknown";
  return WIFSIGNALED(wait_status) ? "signaled" : "exited";
}

std::optional<int> exit_info::exit_code() const {
  if (!known || !WIFEXITED(wait_status)) return std::nullopt;
  return WEXITSTATUS(wait_status);
}

int exit_info::signal() const {
  return known && WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
}

bool exit_info::core_dumped() const {
  return known && WIFSIGNALED(wait_status) && WCOREDUMP(wait_status);
}

std::string exit_info::describe() const {
  if (!known) return "unknown";
  if (auto code = exit_code()) return "exit code " + std::to_string(*code);
  std::string out = "killed by " + signal_name(signal());
  if (oom_kill && signal() == SIGKILL) out += " (OOM)";
  if (core_dumped()) out += " (core dumped)";
  return out;
}

std::string signal_name(int sig) {
  // sigabbrev_np is glibc 2.32+; Debian 12 has 2.36.
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

std::vector<proc_event_record> decode_proc_events(const void* data, std::size_t size) {
  std::vector<proc_event_record> out;
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::size_t offset = 0;
  // Each message is copied out before it is looked at: the datagram need not be aligned, and a
  // length field is never trusted beyond what was received.
  while (size - offset >= sizeof(nlmsghdr)) {
    nlmsghdr header;
    std::memcpy(&header, bytes + offset, sizeof header);
    if (header.nlmsg_len < sizeof header || header.nlmsg_len > size - offset) break;
    std::size_t payload = header.nlmsg_len - NLMSG_HDRLEN;
    if (header.nlmsg_len >= NLMSG_HDRLEN && payload >= sizeof(cn_msg) + sizeof(proc_event)) {
      cn_msg msg;
      std::memcpy(&msg, bytes + offset + NLMSG_HDRLEN, sizeof msg);
      proc_event ev;
      std::memcpy(&ev, bytes + offset + NLMSG_HDRLEN + sizeof msg, sizeof ev);
      if (msg.id.idx == CN_IDX_PROC && msg.id.val == CN_VAL_PROC && msg.len >= sizeof(proc_event)) {
        switch (ev.what) {
          case proc_event::PROC_EVENT_FORK:
            // Threads are created by fork events too; only new processes matter.
            if (ev.event_data.fork.child_pid == ev.event_data.fork.child_tgid)
              out.push_back({proc_event_record::kind::fork, ev.event_data.fork.child_tgid, 0});
            break;
          case proc_event::PROC_EVENT_EXEC:
            out.push_back({proc_event_record::kind::exec, ev.event_data.exec.process_tgid, 0});
            break;
          case proc_event::PROC_EVENT_COMM:
            out.push_back({proc_event_record::kind::comm, ev.event_data.comm.process_tgid, 0});
            break;
          case proc_event::PROC_EVENT_EXIT:
            // The thread group leader's exit carries the process's status.
            if (ev.event_data.exit.process_pid == ev.event_data.exit.process_tgid)
              out.push_back({proc_event_record::kind::exit, ev.event_data.exit.process_tgid,
                             ev.event_data.exit.exit_code});
            break;
          default:
            break;
        }
      }
    }
    std::size_t step = NLMSG_ALIGN(header.nlmsg_len);
    if (step == 0 || step > size - offset) break;
    offset += step;
  }
  return out;
}

std::optional<std::pair<int, std::uint64_t>> parse_stat_exit_code(std::string_view text) {
  auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  // Fields after the comm start at field 3 (state): field N is token N - 3.
  constexpr int kStartTicks = 22 - 3, kExitCode = 52 - 3;
  std::uint64_t start = 0;
  long long code = 0;
  bool have_start = false;
  int index = 0;
  std::size_t pos = 0;
  while (pos < rest.size() && index <= kExitCode) {
    while (pos < rest.size() && rest[pos] == ' ')
      ++pos;
    auto end = rest.find_first_of(" \n", pos);
    if (end == std::string_view::npos) end = rest.size();
    auto token = rest.substr(pos, end - pos);
    if (token.empty()) break;
    if (index == kStartTicks) {
      have_start =
          std::from_chars(token.data(), token.data() + token.size(), start).ec == std::errc();
    } else if (index == kExitCode) {
      auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), code);
      if (ec != std::errc() || !have_start || code < 0 || code > 0xffff) return std::nullopt;
      return std::pair{static_cast<int>(code), start};
    }
    ++index;
    pos = end;
  }
  return std::nullopt;
}

std::optional<int> read_zombie_status(const process_identity& p) {
  auto st = read_stat(p.pid);
  if (!st || st->start_ticks != p.start_ticks || !st->zombie()) return std::nullopt;
  auto text = read_proc_text(("/proc/" + std::to_string(p.pid) + "/stat").c_str(), 4096);
  if (!text) return std::nullopt;
  auto parsed = parse_stat_exit_code(*text);
  if (!parsed || parsed->second != p.start_ticks) return std::nullopt;
  return parsed->first;
}

namespace {

std::string cgroup_root() {
  if (const char* root = std::getenv("SIDELIGHT_CGROUP_ROOT"); root && *root) return root;
  return "/sys/fs/cgroup";
}

// "oom_kill N" in memory.events (v2) or memory.oom_control (v1).
std::optional<std::uint64_t> oom_kill_field(std::string_view text) {
  constexpr std::string_view kKey = "oom_kill ";
  for (std::size_t pos = 0; pos < text.size();) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(pos, end - pos);
    if (line.substr(0, kKey.size()) == kKey) {
      std::uint64_t v = 0;
      auto digits = line.substr(kKey.size());
      if (std::from_chars(digits.data(), digits.data() + digits.size(), v).ec == std::errc())
        return v;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> read_oom_kills(const std::string& path) {
  auto text = read_proc_text(path.c_str(), 4096);
  if (!text) return std::nullopt;
  return oom_kill_field(*text);
}

std::optional<oom_counter> read_oom_counter(pid_t pid) {
  auto text = read_proc_text(("/proc/" + std::to_string(pid) + "/cgroup").c_str(), 65536);
  if (!text) return std::nullopt;
  std::string v1, v2;
  std::string_view all = *text;
  for (std::size_t pos = 0; pos < all.size();) {
    auto end = all.find('\n', pos);
    if (end == std::string_view::npos) end = all.size();
    auto line = all.substr(pos, end - pos);
    pos = end + 1;
    auto a = line.find(':'), b = line.find(':', a == std::string_view::npos ? a : a + 1);
    if (a == std::string_view::npos || b == std::string_view::npos) continue;
    auto controllers = line.substr(a + 1, b - a - 1);
    auto path = std::string(line.substr(b + 1));
    if (path.find("..") != std::string::npos) continue;  // outside our cgroup namespace
    if (line.substr(0, a) == "0" && controllers.empty()) v2 = path;
    for (std::size_t c = 0; c <= controllers.size();) {
      auto comma = controllers.find(',', c);
      if (comma == std::string_view::npos) comma = controllers.size();
      if (controllers.substr(c, comma - c) == "memory") v1 = path;
      c = comma + 1;
    }
  }
  auto root = cgroup_root();
  std::vector<std::string> candidates;
  if (!v1.empty()) candidates.push_back(root + "/memory" + v1 + "/memory.oom_control");
  if (!v2.empty()) {
    candidates.push_back(root + v2 + "/memory.events");
    candidates.push_back(root + "/unified" + v2 + "/memory.events");
  }
  for (auto& path : candidates) {
    if (auto kills = read_oom_kills(path)) return oom_counter{std::move(path), *kills};
  }
  return std::nullopt;
}

struct exit_reasons::waiter {
  explicit waiter(boost::asio::io_context& io) : timer(io) {}
  process_identity process;
  std::function<void(exit_info)> done;
  boost::asio::steady_timer timer;
};

exit_reasons::~exit_reasons() {
  attach(nullptr);
  for (auto& [pid, w] : waiting_)
    w->timer.cancel();
}

void exit_reasons::attach(process_events* events) {
  if (events_ == events) return;
  if (events_ && subscription_) events_->unsubscribe_exits(subscription_);
  events_ = events;
  subscription_ = 0;
  if (events_) {
    subscription_ = events_->subscribe_exits(
        [this](pid_t pid, std::uint32_t status) { on_exit_event(pid, status); });
  }
}

void exit_reasons::track(const process_identity& p) {
  if (tracked_.size() >= kMaxRemembered && !tracked_.count(p.pid)) {
    tracked_.erase(tracked_.begin());  // bounded: an untracked end only loses the OOM flag
  }
  tracked_[p.pid] = {p.start_ticks, std::chrono::steady_clock::now(), read_oom_counter(p.pid)};
}

std::optional<std::uint32_t> exit_reasons::recent_exit(const process_identity& p) const {
  auto it = recent_.find(p.pid);
  if (it == recent_.end()) return std::nullopt;
  // An exit of an earlier process with this PID is not this one's: it must come after the start
  // of this one was noted, or be fresh when it never was.
  auto t = tracked_.find(p.pid);
  auto since = t != tracked_.end() && t->second.start_ticks == p.start_ticks
                   ? t->second.since
                   : std::chrono::steady_clock::now() - std::chrono::seconds(5);
  if (it->second.at < since) return std::nullopt;
  return it->second.wait_status;
}

void exit_reasons::on_exit_event(pid_t pid, std::uint32_t wait_status) {
  if (recent_.size() >= kMaxRemembered && !recent_.count(pid)) {
    // Bounded: the oldest exit goes first.
    auto oldest = recent_.begin();
    for (auto it = recent_.begin(); it != recent_.end(); ++it)
      if (it->second.at < oldest->second.at) oldest = it;
    recent_.erase(oldest);
  }
  recent_[pid] = {wait_status, std::chrono::steady_clock::now()};
  auto [first, last] = waiting_.equal_range(pid);
  std::vector<std::shared_ptr<waiter>> ready;
  for (auto it = first; it != last; ++it)
    ready.push_back(it->second);
  waiting_.erase(first, last);
  for (auto& w : ready) {
    w->timer.cancel();
    w->done(finish(w->process, static_cast<int>(wait_status)));
  }
}

exit_info exit_reasons::finish(const process_identity& p, std::optional<int> status) {
  exit_info e;
  if (!status) status = read_zombie_status(p);
  if (status) {
    e.known = true;
    e.wait_status = *status;
  }
  auto t = tracked_.find(p.pid);
  if (t != tracked_.end() && t->second.start_ticks == p.start_ticks) {
    if (t->second.oom && e.signal() == SIGKILL) {
      auto now = read_oom_kills(t->second.oom->path);
      e.oom_kill = now && *now > t->second.oom->kills;
    }
    tracked_.erase(t);
  }
  return e;
}

void exit_reasons::resolve(const process_identity& p, std::function<void(exit_info)> done) {
  if (auto status = recent_exit(p)) {
    auto e = finish(p, static_cast<int>(*status));
    boost::asio::post(io_, [done = std::move(done), e] { done(e); });
    return;
  }
  if (!events_) {
    auto e = finish(p, std::nullopt);
    boost::asio::post(io_, [done = std::move(done), e] { done(e); });
    return;
  }
  auto w = std::make_shared<waiter>(io_);
  w->process = p;
  w->done = std::move(done);
  waiting_.emplace(p.pid, w);
  w->timer.expires_after(kEventWait);
  w->timer.async_wait([this, w](const boost::system::error_code& ec) {
    if (ec) return;
    auto [first, last] = waiting_.equal_range(w->process.pid);
    for (auto it = first; it != last; ++it) {
      if (it->second == w) {
        waiting_.erase(it);
        w->done(finish(w->process, std::nullopt));
        return;
      }
    }
  });
}

}  // namespace sidelight::watch
