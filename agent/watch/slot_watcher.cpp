#include "watch/slot_watcher.hpp"

#include <boost/asio/post.hpp>

namespace sidelight::watch {

slot_watcher::slot_watcher(watch_context& ctx, const config::target& t, report_handler on_report,
                           liveness_state::policy policy)
    : target_watcher(t),
      ctx_(ctx),
      state_(policy),
      exit_(ctx.io),
      timer_(ctx.io),
      on_report_(std::move(on_report)) {}

void slot_watcher::start_watching() {
  if (running_) return;
  running_ = true;
  on_start();
  run_evaluation();
}

void slot_watcher::stop_watching() {
  if (!running_) return;
  running_ = false;
  timer_.cancel();
  exit_.cancel();
  on_stop();
}

void slot_watcher::run_evaluation() {
  if (!running_) return;
  evaluate();
  schedule_next();
}

void slot_watcher::reevaluate_soon() {
  boost::asio::post(ctx_.io, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->run_evaluation();
  });
}

void slot_watcher::schedule_next() {
  if (!running_) return;
  timer_.expires_after(poll_interval());
  timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec) return;
    self->run_evaluation();
  });
}

void slot_watcher::set_up(const process_facts& process, std::optional<double> probe_seconds) {
  probe_seconds_ = probe_seconds;
  auto what = state_.observe_up(process.identity(), process.start_unix_ns);
  if (state_.up() && state_.process() == process.identity()) {
    bool new_process = !facts_ || facts_->identity() != process.identity();
    facts_ = process;
    if (new_process && ctx_.exits) ctx_.exits->track(process.identity());
    if (new_process || !exit_.active()) {
      auto id = process.identity();
      exit_.watch(id, [this, id] {
        // The serving process exited: learn how, then ask the source at once whether another
        // one took over.
        if (!ctx_.exits) return run_evaluation();
        ctx_.exits->resolve(id, [weak = weak_from_this(), id](exit_info e) {
          auto self = weak.lock();
          if (!self) return;
          self->last_exit_ = std::pair{id, e};
          self->run_evaluation();
        });
      });
    }
  }
  emit(what);
}

void slot_watcher::set_up_anonymous(std::int64_t since_unix_ns,
                                    std::optional<double> probe_seconds) {
  probe_seconds_ = probe_seconds;
  emit(state_.observe_up(std::nullopt, since_unix_ns));
}

void slot_watcher::set_down(std::string reason, std::optional<double> probe_seconds) {
  probe_seconds_ = probe_seconds;
  auto what = state_.observe_down(std::move(reason));
  if (what == change::down) exit_.cancel();
  emit(what);
}

void slot_watcher::emit(change what) {
  if (what == change::none || !on_report_) return;
  on_report_(make_report(what));
}

instance_report slot_watcher::make_report(change what) const {
  instance_report r;
  r.target = target_.name;
  r.up = state_.up();
  r.restarts = state_.restarts();
  r.reason = state_.reason();
  r.up_since_unix_ns = state_.up_since_unix_ns();
  r.probe_seconds = probe_seconds_;
  r.what = what;
  if (facts_ && state_.process() == facts_->identity()) r.process = facts_;
  if (!r.up) {
    // A process we saw end says how; otherwise the source says the service is not running.
    if (last_exit_ && state_.process() == last_exit_->first) {
      r.exit = last_exit_->second;
      r.down_reason = r.exit->down_reason();
      r.reason += ": " + r.exit->describe();
    } else {
      r.down_reason = state_.process() && !is_running(*state_.process()) ? "unknown" : "stopped";
    }
  }
  r.instance_id = make_instance_id(ctx_.host_name, target_.name, state_.process());
  return r;
}

void slot_watcher::for_each_instance(const std::function<void(const instance_report&)>& fn) const {
  if (!state_.known()) return;
  fn(make_report(change::none));
}

}  // namespace sidelight::watch
