#include "watch/watch.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <string_view>
#include <vector>

#include "watch/k8s.hpp"
#include "watch/sha1.hpp"
#include "watch/slot_watchers.hpp"

namespace sidelight::watch {

namespace {

std::shared_ptr<target_watcher> make_kind(watch_context& ctx, const config::target& t,
                                          report_handler on_report) {
  switch (t.identity) {
    case config::target::kind::pid:
      return make_pid_watcher(ctx, t, std::move(on_report));
    case config::target::kind::pidfile:
      return make_pidfile_watcher(ctx, t, std::move(on_report));
    case config::target::kind::process:
      return make_process_watcher(ctx, t, std::move(on_report));
    case config::target::kind::systemd_unit:
      return make_systemd_unit_watcher(ctx, t, std::move(on_report));
    case config::target::kind::socket:
      return make_socket_watcher(ctx, t, std::move(on_report));
  }
  return nullptr;
}

using stats::kind;
constexpr unsigned kScraped = stats::prometheus | stats::json;

constexpr stats::metric kTargetUp{
    "sidelight.target.up",
    "",
    kind::gauge,
    "1 while the target has at least min_instances live instances (running or degraded), else 0.",
    "up",
    kScraped};
constexpr stats::metric kTargetStatus{
    "sidelight.target.status",
    "",
    kind::gauge,
    "1 for the target's current status (running, degraded, down, crash_loop), 0 for the others.",
    "status_{status}",
    stats::prometheus};
constexpr stats::metric kTargetInstances{
    "sidelight.target.instances",        "{instance}",     kind::gauge,
    "Live instances of the target now.", "live_instances", kScraped};
constexpr stats::metric kTargetMinInstances{"sidelight.target.min_instances",
                                            "{instance}",
                                            kind::gauge,
                                            "Live instances the target needs to count as up.",
                                            "min_instances",
                                            kScraped};
constexpr stats::metric kTargetRestarts{"sidelight.target.restarts",
                                        "{restart}",
                                        kind::counter,
                                        "Restarts of the target seen since sidelight started.",
                                        "restarts",
                                        kScraped};
constexpr stats::metric kTargetUptime{
    "sidelight.target.uptime",
    "s",
    kind::gauge,
    "Uptime of the target's longest-running live instance; 0 when it is down.",
    "uptime_seconds",
    kScraped};
constexpr stats::metric kTargetLastChange{
    "sidelight.target.last_change_timestamp",
    "s",
    kind::gauge,
    "When an instance of the target last went up or down or restarted, in unix seconds; 0 when "
    "none has since sidelight started.",
    "last_change_unix_seconds",
    kScraped};
constexpr stats::metric kInstanceUp{"sidelight.instance.up",
                                    "",
                                    kind::gauge,
                                    "1 while the instance is live, else 0.",
                                    "up",
                                    kScraped};
constexpr stats::metric kInstanceUptime{"sidelight.instance.uptime",
                                        "s",
                                        kind::gauge,
                                        "Seconds since the instance's process started.",
                                        "uptime_seconds",
                                        kScraped};

constexpr std::string_view kStatuses[] = {"running", "degraded", "down", "crash_loop"};

void visit_instance(stats::sink& out, const instance_report& r, const change_book& changes,
                    std::int64_t now) {
  out.open("instances", {{"instance_id", r.instance_id}});
  out.fact("state", r.up ? "up" : "down");
  if (r.process) out.fact("pid", static_cast<std::int64_t>(r.process->pid));
  out.fact("reason", r.reason);
  if (const auto* c = changes.find(r.instance_id)) {
    out.fact("last_change", to_string(c->what));
    out.fact("last_change_unix_nano", c->unix_ns);
  }
  out.value(kInstanceUp, {}, r.up ? 1 : 0);
  double uptime = r.up && r.up_since_unix_ns > 0 && now > r.up_since_unix_ns
                      ? static_cast<double>(now - r.up_since_unix_ns) / 1e9
                      : 0;
  out.value(kInstanceUptime, {}, uptime);
  out.fact("restarts", static_cast<std::int64_t>(r.restarts));
  out.close();
}

}  // namespace

std::shared_ptr<target_watcher> make_watcher(watch_context& ctx, const config::target& t,
                                             report_handler on_report) {
  auto changes = std::make_shared<change_book>();
  auto self = std::make_shared<std::weak_ptr<target_watcher>>();
  auto& io = ctx.io;
  auto w = make_kind(
      ctx, t, [changes, self, &io, on_report = std::move(on_report)](const instance_report& r) {
        changes->note(r);
        on_report(r);
        if (r.what == change::none) return;
        // Once the watcher has finished with this change: its instances are
        // then all as they now are.
        asio::post(io, [self] {
          if (auto watcher = self->lock()) watcher->note_state();
        });
      });
  if (w) {
    w->changes_ = std::move(changes);
    *self = w;
  }
  return w;
}

void change_book::note(const instance_report& r) {
  if (r.what == change::none) return;
  entry e{now_unix_ns(), r.what};
  latest_ = e;
  if (r.final) {
    by_instance_.erase(r.instance_id);
  } else {
    by_instance_[r.instance_id] = e;
  }
}

const change_book::entry* change_book::find(const std::string& instance_id) const {
  auto it = by_instance_.find(instance_id);
  return it == by_instance_.end() ? nullptr : &it->second;
}

namespace {

struct target_summary {
  std::vector<instance_report> instances;
  std::uint64_t live = 0;
  std::uint64_t restarts = 0;
  double uptime = 0;
};

target_summary summarize(const target_watcher& w, std::int64_t now) {
  target_summary s;
  w.for_each_instance([&](const instance_report& r) { s.instances.push_back(r); });
  for (const auto& r : s.instances) {
    s.restarts += r.restarts;
    if (!r.up) continue;
    ++s.live;
    if (r.up_since_unix_ns > 0 && now > r.up_since_unix_ns)
      s.uptime = std::max(s.uptime, static_cast<double>(now - r.up_since_unix_ns) / 1e9);
  }
  return s;
}

constexpr std::uint64_t kMinInstances = 1;

target_state state_of(const target_summary& s) {
  return s.live >= kMinInstances ? target_state::running : target_state::down;
}

}  // namespace

target_state target_watcher::note_state() const {
  auto now = now_unix_ns();
  auto state = state_of(summarize(*this, now));
  timeline_.observe(state, now);
  return state;
}

void target_watcher::visit(stats::sink& out) const {
  auto now = now_unix_ns();
  auto s = summarize(*this, now);
  auto state = state_of(s);
  timeline_.observe(state, now);
  out.open("targets", {{"target", target_.name}, {"service", target_.name}});
  out.fact("kind", config::to_string(target_.identity));
  out.fact("state", to_string(state));
  out.value(kTargetUp, {}, state == target_state::down ? 0 : 1);
  for (auto st : kStatuses)
    out.value(kTargetStatus, {{"status", st}}, st == to_string(state) ? 1 : 0);
  out.value(kTargetInstances, {}, static_cast<double>(s.live));
  out.value(kTargetMinInstances, {}, static_cast<double>(kMinInstances));
  out.value(kTargetRestarts, {}, static_cast<double>(s.restarts));
  out.value(kTargetUptime, {}, s.uptime);
  out.value(kTargetLastChange, {}, static_cast<double>(changes_->latest().unix_ns) / 1e9);
  for (const auto& r : s.instances)
    visit_instance(out, r, *changes_, now);
  for (const auto& p : timeline_.view(now)) {
    out.open("periods", {});
    out.fact("state", to_string(p.state));
    out.fact("start_unix_nano", p.start_unix_ns);
    out.fact("end_unix_nano", p.end_unix_ns);
    out.close();
  }
  out.close();
}

namespace {

// After a reboot PIDs and start ticks repeat; the boot id tells the two apart.
const std::string& boot_id() {
  static const std::string id = [] {
    auto text = read_small_file("/proc/sys/kernel/random/boot_id", 64);
    std::string s = text.value_or("");
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
      s.pop_back();
    return s;
  }();
  return id;
}

}  // namespace

std::string make_instance_id(const std::string& host, const std::string& target,
                             const std::optional<process_identity>& process) {
  // A fixed namespace for sidelight's instance ids (RFC 9562 name-based UUID, SHA-1).
  static const unsigned char kNamespace[16] = {0x6b, 0x1e, 0x4c, 0x2a, 0x93, 0x0f, 0x4d, 0x57,
                                               0xa1, 0x8e, 0x2c, 0x5b, 0x7d, 0x90, 0x31, 0xe4};
  std::string name = host + '\x1f' + target;
  if (process) {
    name += '\x1f' + boot_id() + '\x1f' + std::to_string(process->pid) + ':' +
            std::to_string(process->start_ticks);
  }
  auto digest =
      sha1()
          .update(std::string_view(reinterpret_cast<const char*>(kNamespace), sizeof kNamespace))
          .update(name)
          .digest();
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(
      out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
      digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
      digest[8], digest[9], digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]);
  return out;
}

std::optional<process_facts> read_process_facts(pid_t pid) {
  auto st = read_stat(pid);
  if (!st || st->zombie()) return std::nullopt;
  process_facts f;
  f.pid = pid;
  f.start_ticks = st->start_ticks;
  f.start_unix_ns = ticks_to_unix_ns(st->start_ticks);
  if (auto exe = read_exe(pid)) {
    f.executable_path = *exe;
    auto slash = exe->rfind('/');
    f.executable_name = slash == std::string::npos ? *exe : exe->substr(slash + 1);
  } else {
    f.executable_name = st->comm;
  }
  f.container_id = read_container_id(pid);
  return f;
}

}  // namespace sidelight::watch
