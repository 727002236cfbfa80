// The app stage wires the others together and owns the process's life: it builds the watchers,
// the heartbeat emitter, the exporter routes and the intake listeners from a config, runs the
// event loop, handles SIGTERM/SIGINT (final export, flush within shutdown_timeout, exit 0) and
// SIGHUP (reload; a bad new config is refused and the old one stays), and is the only place that
// knows every stage. Policy belongs to the stages; this only connects them.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_server.hpp"
#include "app/watchdog.hpp"
#include "config/config.hpp"
#include "config/loader.hpp"
#include "heartbeat/heartbeat.hpp"
#include "intake/intake.hpp"
#include "intake/ndjson_server.hpp"
#include "intake/otlp_grpc_server.hpp"
#include "intake/otlp_http_server.hpp"
#include "pipeline/exporter_route.hpp"
#include "watch/process_events.hpp"
#include "watch/socket_table.hpp"
#include "watch/watch.hpp"

namespace sidelight::app {

namespace asio = boost::asio;

class agent final : public admin::status_provider {
 public:
  explicit agent(config::config cfg);
  ~agent() override;

  // Runs until stopped; returns the process exit code.
  int run();

  // Reads and checks the config file again on a thread of its own (a large file takes a while,
  // and the event loop must go on meanwhile), then applies it on the loop if it is valid, or
  // logs its problems and keeps the running one. A SIGHUP during a reload reloads once more
  // after it.
  void reload();
  // Begins a clean stop: final export, flush within shutdown_timeout, then run() returns 0.
  void request_stop();

  // What the admin endpoints and the self-metrics show, read on the event loop's thread.
  void visit(stats::sink& out) const override;
  std::vector<std::string> not_ready() const override;

 private:
  struct route {
    std::string fingerprint;
    std::shared_ptr<pipeline::exporter_route> path;
  };
  using route_list = std::vector<std::shared_ptr<pipeline::exporter_route>>;

  // Builds what `cfg` asks for, keeping watchers and exporters whose configuration is unchanged.
  // Returns an error text when an exporter cannot be built; nothing changes then.
  std::string apply(std::shared_ptr<const config::config> cfg);
  std::variant<std::vector<route>, std::string> open_routes(const config::config& cfg);
  void replace_routes(std::vector<route> next);
  void retire(std::shared_ptr<pipeline::exporter_route> r);
  void rebuild_watchers(const config::config& cfg);
  void warn_unapplied(const config::config& next) const;
  // Starts the intake listeners the config asks for; an error text when one cannot start.
  std::string start_intake();
  void stop_intake();
  // Hands a client's chunk to every exporter's lane for its signal; called from intake threads.
  void deliver(codec::signal s, pipeline::chunk c);
  // The event of an instance's end (heartbeat/exit_event.hpp), to every logs pipeline.
  void send_exit_event(const watch::instance_report& r);
  void on_instance(const watch::instance_report& r);
  // A target's probe began or ceased to fail: its target-level heartbeat goes at once.
  void on_probe_change(const watch::target_watcher& w);
  void finish_reload(config::load_result result);
  void wait_for_signals();

  asio::io_context io_;
  asio::signal_set signals_;
  std::shared_ptr<const config::config> cfg_;
  std::string host_name_;
  std::unique_ptr<watch::process_events> process_events_;
  // After process_events_, so that it goes first: it is subscribed to it.
  std::unique_ptr<watch::exit_reasons> exit_reasons_;
  bool process_events_failed_ = false;  // said once, not tried again at each reload
  watch::socket_table sockets_;
  std::unique_ptr<watch::watch_context> watch_ctx_;
  std::shared_ptr<heartbeat::heartbeat_emitter> emitter_;
  std::map<std::string, std::shared_ptr<watch::target_watcher>> watchers_;  // by fingerprint
  // The same, in the order of the configuration's targets: what the stats walk, at every
  // heartbeat among others, without making each target's fingerprint again.
  std::vector<std::shared_ptr<watch::target_watcher>> ordered_watchers_;
  std::vector<route> routes_;
  std::vector<std::shared_ptr<pipeline::exporter_route>> retiring_;
  std::shared_ptr<admin::admin_server> admin_;
  // Intake runs on its own thread (NDJSON, OTLP/HTTP) and gRPC's completion-queue thread, so a
  // flood of client data never delays a heartbeat.
  intake::intake_policy policy_;
  std::shared_ptr<pipeline::memory_budget> budget_ = std::make_shared<pipeline::memory_budget>();
  std::shared_ptr<pipeline::pressure> pressure_ = std::make_shared<pipeline::pressure>();
  intake::intake_counters intake_counters_;
  asio::io_context intake_io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> intake_work_;
  std::thread intake_thread_;
  // NDJSON stream connections' threads; stopped after the servers, before intake_io_ goes.
  std::unique_ptr<intake::io_pool> ndjson_workers_;
  std::unique_ptr<intake::otlp_grpc_server> grpc_intake_;
  std::shared_ptr<intake::ndjson_server> ndjson_intake_;
  std::shared_ptr<intake::otlp_http_server> http_intake_;
  // The routes intake delivers to: swapped whole under the mutex, used outside it, so that no
  // intake thread waits on another's offer (which may write the spool).
  mutable std::mutex delivery_mutex_;
  std::shared_ptr<const route_list> delivery_ = std::make_shared<route_list>();
  std::int64_t started_unix_ns_ = 0;
  std::uint64_t reloads_ = 0;
  std::uint64_t reloads_refused_ = 0;
  std::thread reload_thread_;  // reads and checks the file; the loop applies it
  bool reloading_ = false;
  bool reload_again_ = false;
  bool stopping_ = false;
  int exit_code_ = 0;
  std::unique_ptr<watchdog> watchdog_;  // runs while io_ does
};

}  // namespace sidelight::app
