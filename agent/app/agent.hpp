// The app stage wires the others together and owns the process's life: it builds the watchers,
// the heartbeat emitter, the pipeline lanes and the exporters from a config, runs the event loop,
// handles SIGTERM/SIGINT (final export, flush within shutdown_timeout, exit 0) and SIGHUP (reload;
// a bad new config is refused and the old one stays), and is the only place that knows every stage.
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
#include "export/exporter.hpp"
#include "heartbeat/heartbeat.hpp"
#include "intake/intake.hpp"
#include "intake/ndjson_server.hpp"
#include "intake/otlp_grpc_server.hpp"
#include "intake/otlp_http_server.hpp"
#include "pipeline/liveness_lane.hpp"
#include "pipeline/signal_lane.hpp"
#include "watch/process_events.hpp"
#include "watch/socket_table.hpp"
#include "watch/watch.hpp"

namespace sidelight::app {

namespace asio = boost::asio;

class agent {
 public:
  explicit agent(config::config cfg);
  ~agent();

  // Runs until stopped; returns the process exit code.
  int run();

  // Loads the config file again and applies it if it is valid; false (with the problems logged)
  // when it is refused.
  bool reload();
  // Begins a clean stop: final export, flush within shutdown_timeout, then run() returns 0.
  void request_stop();

 private:
  struct exporter_slot {
    std::string fingerprint;
    std::shared_ptr<exporting::exporter> exporter;
    std::shared_ptr<pipeline::liveness_lane> lane;
    // Client telemetry by signal (traces, metrics, logs), each with its own queue.
    std::array<std::shared_ptr<pipeline::signal_lane>, 3> lanes;
    std::string endpoint;  // for status: the upstream's address, or "stdout"
  };
  struct last_change {
    std::int64_t unix_ns = 0;
    watch::change what = watch::change::none;
  };

  // What the admin endpoints show, taken on the event loop's thread.
  admin::status_snapshot snapshot() const;

  // Builds what `cfg` asks for, keeping watchers and exporters whose configuration is unchanged.
  // Returns an error text when an exporter cannot be built.
  std::string apply(std::shared_ptr<const config::config> cfg);
  void retire(exporter_slot slot);
  // Starts the intake listeners the config asks for; an error text when one cannot start.
  std::string start_intake();
  void stop_intake();
  // Hands a client's chunk to every exporter's lane for its signal; called from intake threads.
  void deliver(exporting::signal s, pipeline::chunk c);
  void publish_lanes();
  void on_instance(const watch::instance_report& r);
  void wait_for_signals();
  void add_self_metrics(opentelemetry::proto::metrics::v1::ScopeMetrics& scope, std::int64_t now);

  asio::io_context io_;
  asio::signal_set signals_;
  std::shared_ptr<const config::config> cfg_;
  std::string host_name_;
  std::unique_ptr<watch::process_events> process_events_;
  watch::socket_table sockets_;
  std::unique_ptr<watch::watch_context> watch_ctx_;
  std::shared_ptr<heartbeat::heartbeat_emitter> emitter_;
  std::map<std::string, std::shared_ptr<watch::target_watcher>> watchers_;  // by fingerprint
  std::vector<exporter_slot> exporters_;
  std::vector<exporter_slot> retiring_;
  std::shared_ptr<admin::admin_server> admin_;
  // Intake runs on its own thread (NDJSON) and gRPC's completion-queue thread, so a flood of
  // client data never delays a heartbeat.
  intake::intake_policy policy_;
  std::shared_ptr<pipeline::memory_budget> budget_ = std::make_shared<pipeline::memory_budget>();
  intake::intake_counters intake_counters_;
  asio::io_context intake_io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> intake_work_;
  std::thread intake_thread_;
  std::unique_ptr<intake::otlp_grpc_server> grpc_intake_;
  std::shared_ptr<intake::ndjson_server> ndjson_intake_;
  std::shared_ptr<intake::otlp_http_server> http_intake_;
  std::mutex lanes_mutex_;
  std::vector<std::array<std::shared_ptr<pipeline::signal_lane>, 3>> live_lanes_;
  std::map<std::string, last_change> last_changes_;  // by service.instance.id
  std::int64_t started_unix_ns_ = 0;
  std::uint64_t reloads_ = 0;
  std::uint64_t reloads_refused_ = 0;
  bool stopping_ = false;
  int exit_code_ = 0;
  std::unique_ptr<watchdog> watchdog_;  // runs while io_ does
};

}  // namespace sidelight::app
