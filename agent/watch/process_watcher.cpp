// `process:` targets: every process matching comm, exe, cmdline and user is an instance of its own.
// New processes are found through kernel process events where available, else by scanning /proc;
// each instance's exit is seen through pidfd, reported once as down, and the instance is dropped.
#include <re2/re2.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <map>
#include <set>

#include "sys/log_limiter.hpp"
#include "watch/exit_watch.hpp"
#include "watch/process_events.hpp"
#include "watch/process_match.hpp"
#include "watch/slot_watchers.hpp"

namespace sidelight::watch {
namespace {

using namespace std::chrono_literals;

// A fork without exec is evaluated after this delay: most forks exec at once, and a process that
// matches only for microseconds should not appear as a service instance.
constexpr auto kForkSettle = 100ms;
constexpr auto kFullScanWithEvents = 30s;
constexpr auto kFullScanWithoutEvents = 10s;
// Exits are logged at once, then summed up at most this often: a target that matches short-lived
// processes (a worker per job) must not write a line for each (16,000 in 20 s of churn).
constexpr auto kExitLogPeriod = 10s;

class process_watcher final : public target_watcher,
                              public std::enable_shared_from_this<process_watcher> {
 public:
  process_watcher(watch_context& ctx, const config::target& t, report_handler on_report)
      : target_watcher(t),
        ctx_(ctx),
        on_report_(std::move(on_report)),
        scan_timer_(ctx.io),
        fork_timer_(ctx.io),
        exit_summary_timer_(ctx.io) {}

  ~process_watcher() override { stop(); }

  void start_watching() override {
    if (running_) return;
    running_ = true;
    if (ctx_.events) {
      subscription_ =
          ctx_.events->subscribe([weak = weak_from_this()](process_events::kind k, pid_t pid) {
            if (auto self = weak.lock()) self->on_event(k, pid);
          });
    }
    scan(true);
    schedule_scan();
  }

  void stop_watching() override {
    if (!running_) return;
    running_ = false;
    if (ctx_.events && subscription_) ctx_.events->unsubscribe(subscription_);
    subscription_ = 0;
    scan_timer_.cancel();
    fork_timer_.cancel();
    exit_summary_timer_.cancel();
    instances_.clear();
  }

  void for_each_instance(const std::function<void(const instance_report&)>& fn) const override {
    for (const auto& [pid, inst] : instances_)
      fn(report_of(*inst, change::none));
  }

 private:
  struct instance {
    explicit instance(boost::asio::io_context& io) : exit(io) {}
    process_facts facts;
    std::string instance_id;
    exit_watch exit;
  };

  instance_report report_of(const instance& inst, change what,
                            const std::optional<exit_info>& exit = std::nullopt) const {
    instance_report r;
    r.target = target_.name;
    r.instance_id = inst.instance_id;
    r.up = what != change::down;
    r.process = inst.facts;
    r.up_since_unix_ns = inst.facts.start_unix_ns;
    r.what = what;
    r.final = what == change::down;
    if (r.final) {
      r.reason = "process " + std::to_string(inst.facts.pid) + " exited";
      r.down_reason = exit ? exit->down_reason() : "stopped";
      if (exit) r.reason += ": " + exit->describe();
      r.exit = exit;
    }
    return r;
  }

  bool matches(const process_stat& st) const {
    proc_probe probe(st);
    return watch::matches(target_.process, probe);
  }

  // Looks at one PID and adds it as an instance when it matches.
  void consider(pid_t pid) {
    if (instances_.count(pid)) return;
    auto st = read_stat(pid);
    if (!st) return;
    if (!matches(*st)) {
      rejected_[pid] = st->start_ticks;
      return;
    }
    rejected_.erase(pid);
    auto facts = read_process_facts(pid);
    if (!facts || facts->start_ticks != st->start_ticks) return;
    auto inst = std::make_unique<instance>(ctx_.io);
    inst->facts = *facts;
    inst->instance_id = make_instance_id(ctx_.host_name, target_.name, facts->identity());
    auto identity = facts->identity();
    auto* raw = inst.get();
    instances_[pid] = std::move(inst);
    if (ctx_.exits) ctx_.exits->track(identity);
    raw->exit.watch(identity, [this, pid, identity] { on_exit(pid, identity); });
    if (on_report_) on_report_(report_of(*raw, change::up));
  }

  void on_exit(pid_t pid, process_identity identity) {
    if (!ctx_.exits) return end_instance(pid, identity, exit_info{});
    // How it ended comes from the kernel within moments; the down report waits for it.
    ctx_.exits->resolve(identity, [weak = weak_from_this(), pid, identity](exit_info e) {
      if (auto self = weak.lock()) self->end_instance(pid, identity, e);
    });
  }

  void end_instance(pid_t pid, process_identity identity, const exit_info& e) {
    auto it = instances_.find(pid);
    if (it == instances_.end() || it->second->facts.identity() != identity) return;
    auto inst = std::move(it->second);
    instances_.erase(it);
    report_gone(*inst, e);
  }

  // An instance is gone for good: reported (final) and logged, within the log's budget.
  void report_gone(const instance& inst, const std::optional<exit_info>& e = std::nullopt) {
    auto report = report_of(inst, change::down, e);
    if (on_report_) on_report_(report);
    if (exit_log_.allow()) {
      spdlog::info("target {}: down ({}){}", target_.name, report.reason, exit_log_.held_back());
    } else {
      arm_exit_summary();
    }
  }

  // When exits were held back, one line says how many once the period is over.
  void arm_exit_summary() {
    if (exit_summary_armed_) return;
    exit_summary_armed_ = true;
    exit_summary_timer_.expires_at(exit_log_.next_allowed());
    exit_summary_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->exit_summary_armed_ = false;
      auto held = self->exit_log_.suppressed();
      if (held == 0 || !self->exit_log_.allow(0)) return;
      self->exit_log_.held_back();
      spdlog::info("target {}: {} more process(es) exited since the last report",
                   self->target_.name, held);
    });
  }

  // A known instance that exec'd into something else is no longer the service.
  void recheck(pid_t pid) {
    auto it = instances_.find(pid);
    if (it == instances_.end()) {
      rejected_.erase(pid);
      consider(pid);
      return;
    }
    auto st = read_stat(pid);
    if (st && st->start_ticks == it->second->facts.start_ticks && matches(*st)) return;
    auto inst = std::move(it->second);
    instances_.erase(it);
    inst->exit.cancel();
    report_gone(*inst);
    if (st) rejected_[pid] = st->start_ticks;
  }

  void on_event(process_events::kind k, pid_t pid) {
    switch (k) {
      case process_events::kind::exec:
      case process_events::kind::comm:
        pending_forks_.erase(pid);
        recheck(pid);
        break;
      case process_events::kind::fork:
        pending_forks_[pid] = std::chrono::steady_clock::now();
        arm_fork_timer();
        break;
      case process_events::kind::lost:
        scan(true);
        break;
    }
  }

  void arm_fork_timer() {
    if (fork_timer_armed_) return;
    fork_timer_armed_ = true;
    fork_timer_.expires_after(kForkSettle);
    fork_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->fork_timer_armed_ = false;
      self->settle_forks();
    });
  }

  void settle_forks() {
    auto cutoff = std::chrono::steady_clock::now() - kForkSettle;
    for (auto it = pending_forks_.begin(); it != pending_forks_.end();) {
      if (it->second <= cutoff) {
        pid_t pid = it->first;
        it = pending_forks_.erase(it);
        rejected_.erase(pid);
        consider(pid);
      } else {
        ++it;
      }
    }
    if (!pending_forks_.empty()) arm_fork_timer();
  }

  // A quick scan looks only at PIDs not seen before; a full one looks at every PID again (a
  // process may have exec'd into a match while we were not told).
  void scan(bool full) {
    if (full) {
      rejected_.clear();
      last_full_scan_ = std::chrono::steady_clock::now();
    }
    std::map<pid_t, std::uint64_t> still_rejected;
    for (pid_t pid : list_pids()) {
      if (instances_.count(pid)) continue;
      auto r = rejected_.find(pid);
      if (r != rejected_.end()) {
        still_rejected.insert(*r);
        continue;
      }
      consider(pid);
      if (auto again = rejected_.find(pid); again != rejected_.end()) still_rejected.insert(*again);
    }
    rejected_ = std::move(still_rejected);
  }

  void schedule_scan() {
    auto interval = ctx_.events ? kFullScanWithEvents : ctx_.discovery_interval;
    scan_timer_.expires_after(interval);
    scan_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec || !self->running_) return;
      auto full_every = self->ctx_.events ? kFullScanWithEvents : kFullScanWithoutEvents;
      self->scan(std::chrono::steady_clock::now() - self->last_full_scan_ >= full_every);
      self->schedule_scan();
    });
  }

  watch_context& ctx_;
  report_handler on_report_;
  boost::asio::steady_timer scan_timer_;
  boost::asio::steady_timer fork_timer_;
  bool fork_timer_armed_ = false;
  sys::log_limiter exit_log_{kExitLogPeriod};
  boost::asio::steady_timer exit_summary_timer_;
  bool exit_summary_armed_ = false;
  bool running_ = false;
  std::size_t subscription_ = 0;
  std::map<pid_t, std::unique_ptr<instance>> instances_;
  std::map<pid_t, std::uint64_t> rejected_;  // PID → start ticks of processes that do not match
  std::map<pid_t, std::chrono::steady_clock::time_point> pending_forks_;
  std::chrono::steady_clock::time_point last_full_scan_{};
};

}  // namespace

std::shared_ptr<target_watcher> make_process_watcher(watch_context& ctx, const config::target& t,
                                                     report_handler on_report) {
  return std::make_shared<process_watcher>(ctx, t, std::move(on_report));
}

}  // namespace sidelight::watch
