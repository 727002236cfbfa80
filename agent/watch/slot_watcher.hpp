// A target served by one process at a time (pid, pidfile, systemd unit, socket). A subclass
// answers "what serves the target now?" in evaluate(); the slot turns the answers into up, down
// and restart reports, and re-evaluates at once when the serving process exits.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include "watch/exit_watch.hpp"
#include "watch/watch.hpp"

namespace sidelight::watch {

class slot_watcher : public target_watcher, public std::enable_shared_from_this<slot_watcher> {
 public:
  slot_watcher(watch_context& ctx, const config::target& t, report_handler on_report,
               liveness_state::policy policy);

  void start_watching() override;
  void stop_watching() override;
  void for_each_instance(const std::function<void(const instance_report&)>& fn) const override;

 protected:
  // Looks at the source and calls set_up() or set_down().
  virtual void evaluate() = 0;
  // How long until the next evaluation; exits are seen sooner, through pidfd.
  virtual config::duration poll_interval() const = 0;
  virtual void on_start() {}
  virtual void on_stop() {}

  void set_up(const process_facts& process, std::optional<double> probe_seconds = std::nullopt);
  // Up, but no process can be named (a socket whose owner is not visible to us).
  void set_up_anonymous(std::int64_t since_unix_ns, std::optional<double> probe_seconds);
  void set_down(std::string reason, std::optional<double> probe_seconds = std::nullopt);

  // Evaluates again now, from the event loop.
  void reevaluate_soon();

  bool is_up() const { return state_.up(); }
  const std::optional<process_facts>& current_process() const { return facts_; }

  watch_context& ctx_;

 private:
  instance_report make_report(change what) const;
  void run_evaluation();
  void schedule_next();
  void emit(change what);

  liveness_state state_;
  std::optional<process_facts> facts_;
  std::optional<double> probe_seconds_;
  // How the last serving process ended, once the kernel said.
  std::optional<std::pair<process_identity, exit_info>> last_exit_;
  exit_watch exit_;
  boost::asio::steady_timer timer_;
  report_handler on_report_;
  bool running_ = false;
};

}  // namespace sidelight::watch
