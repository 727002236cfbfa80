#include "watch/watch.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <string_view>
#include <vector>

#include "sys/bounded_file.hpp"
#include "watch/http_probe.hpp"
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

constexpr stats::metric kTargetProbeDuration{
    "sidelight.target.probe.duration",
    "s",
    kind::gauge,
    "How long the target's last probe (http:, or socket check: connect) took.",
    "probe_seconds",
    kScraped};
constexpr stats::metric kTargetProbeFailures{"sidelight.target.probe.failures",
                                             "{failure}",
                                             kind::counter,
                                             "Probes of the target that failed since sidelight "
                                             "started.",
                                             "probe_failures",
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
                                             report_handler on_report, target_handler on_target) {
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
    w->on_target_ = std::move(on_target);
    if (t.http.enabled()) {
      auto* raw = w.get();
      w->http_ = std::make_shared<http_prober>(
          io, t.http, [raw](probe_outcome o) { raw->note_probe(std::move(o)); });
    }
  }
  return w;
}

target_watcher::target_watcher(const config::target& t) : target_(t) {}

// The prober's callback holds the watcher by pointer: stopping it here means it never calls back.
target_watcher::~target_watcher() {
  if (http_) http_->stop();
}

void target_watcher::start() {
  start_watching();
  if (http_) http_->start();
}

void target_watcher::stop() {
  if (http_) http_->stop();
  stop_watching();
}

bool target_watcher::record_probe(probe_outcome outcome) {
  bool changed = !probe_ || probe_->ok != outcome.ok || probe_->failure != outcome.failure;
  if (!outcome.ok) ++probe_failures_;
  probe_ = std::move(outcome);
  return changed;
}

void target_watcher::probe_verdict_changed() {
  note_state();
  if (on_target_) on_target_(*this);
}

void change_book::note(const instance_report& r) {
  if (r.what == change::none) return;
  entry e{now_unix_ns(), r.what};
  latest_ = e;
  if (r.what == change::down) {
    last_down_reason_ = r.down_reason.empty() ? "unknown" : r.down_reason;
    last_reason_ = r.reason;
  }
  // A slot's restart replaced its process; a process target's instance ends for good.
  if (r.what == change::restart || (r.what == change::down && r.final)) {
    ends_.push_back(e.unix_ns);
    if (ends_.size() > kMaxEnds) ends_.pop_front();
  }
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

std::size_t change_book::ends_since(std::int64_t since_unix_ns) const {
  return static_cast<std::size_t>(ends_.end() -
                                  std::lower_bound(ends_.begin(), ends_.end(), since_unix_ns));
}

namespace {

struct target_summary {
  std::vector<instance_report> instances;
  target_report report;
};

target_summary summarize(const target_watcher& w, std::int64_t now) {
  target_summary s;
  w.for_each_instance([&](const instance_report& r) { s.instances.push_back(r); });
  auto& t = s.report;
  for (const auto& r : s.instances) {
    t.restarts += r.restarts;
    if (!r.up) {
      if (t.reason.empty()) t.reason = r.reason;
      if (t.down_reason.empty()) t.down_reason = r.down_reason;
      continue;
    }
    ++t.live;
    if (r.up_since_unix_ns > 0 && now > r.up_since_unix_ns)
      t.uptime_seconds =
          std::max(t.uptime_seconds, static_cast<double>(now - r.up_since_unix_ns) / 1e9);
  }
  return s;
}

// Down below min_instances; a crash loop when instances ended crash_loop.restarts times within
// the window, even while it is down between two restarts, because that is what the operator must
// know; degraded when the target is live but its last probe failed.
void decide_state(const config::target& cfg, const change_book& changes,
                  const std::optional<probe_outcome>& probe, std::int64_t now, target_report& t) {
  auto ends = changes.ends_since(now - cfg.crash_loop.window.count());
  if (ends >= cfg.crash_loop.restarts) {
    t.state = target_state::crash_loop;
    t.reason = std::to_string(ends) + " restarts within " +
               std::to_string(cfg.crash_loop.window.count() / 1'000'000'000) + "s";
  } else if (t.live >= cfg.min_instances && probe && !probe->ok) {
    t.state = target_state::degraded;
    t.degraded_reason = probe->failure;
    t.reason = probe->reason;
  } else if (t.live >= cfg.min_instances) {
    t.state = target_state::running;
    t.reason.clear();
  } else {
    t.state = target_state::down;
    if (t.live > 0 || t.reason.empty()) {
      t.reason =
          std::to_string(t.live) + " of " + std::to_string(cfg.min_instances) + " instances live";
      if (!changes.last_reason().empty()) t.reason += "; last: " + changes.last_reason();
    }
  }
  if (t.state != target_state::down) {
    t.down_reason.clear();
  } else if (t.down_reason.empty()) {
    t.down_reason = changes.last_down_reason().empty() ? "unknown" : changes.last_down_reason();
  }
}

}  // namespace

bool target_watcher::has_probe() const {
  return target_.http.enabled() || (target_.identity == config::target::kind::socket &&
                                    target_.socket.check == config::socket_check::method::connect);
}

void target_watcher::add_probe(target_report& t) const {
  if (!has_probe()) return;
  t.probe_failures = probe_failures_;
  if (probe_) t.probe_seconds = probe_->seconds;
}

target_report target_watcher::summary(std::int64_t now_unix_ns) const {
  auto s = summarize(*this, now_unix_ns);
  decide_state(target_, *changes_, probe_, now_unix_ns, s.report);
  add_probe(s.report);
  return s.report;
}

target_state target_watcher::note_state() const {
  auto now = now_unix_ns();
  auto state = summary(now).state;
  timeline_.observe(state, now);
  return state;
}

void target_watcher::visit(stats::sink& out) const {
  auto now = now_unix_ns();
  auto s = summarize(*this, now);
  auto& t = s.report;
  decide_state(target_, *changes_, probe_, now, t);
  add_probe(t);
  timeline_.observe(t.state, now);
  out.open("targets", {{"target", target_.name}, {"service", target_.name}});
  out.fact("kind", config::to_string(target_.identity));
  out.fact("state", to_string(t.state));
  out.fact("reason", t.reason);
  out.fact("down_reason", t.down_reason);
  out.fact("degraded_reason", t.degraded_reason);
  out.value(kTargetUp, {}, t.live >= target_.min_instances ? 1 : 0);
  for (auto st : kStatuses)
    out.value(kTargetStatus, {{"status", st}}, st == to_string(t.state) ? 1 : 0);
  out.value(kTargetInstances, {}, static_cast<double>(t.live));
  out.value(kTargetMinInstances, {}, static_cast<double>(target_.min_instances));
  out.value(kTargetRestarts, {}, static_cast<double>(t.restarts));
  out.value(kTargetUptime, {}, t.uptime_seconds);
  out.value(kTargetLastChange, {}, static_cast<double>(changes_->latest().unix_ns) / 1e9);
  if (t.probe_seconds) out.value(kTargetProbeDuration, {}, *t.probe_seconds);
  if (t.probe_failures) out.value(kTargetProbeFailures, {}, static_cast<double>(*t.probe_failures));
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
    auto s = sys::read_file("/proc/sys/kernel/random/boot_id", {64, sys::overflow::truncate}).text;
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
