// The heartbeat stage owns turning what the watch stage knows into metrics, and when: every state
// change is emitted at once, and every instance is emitted again at its target's interval (ticks
// aligned to the wall clock, so instances sharing an interval leave together). It also reports on
// sidelight itself as service.name=sidelight. It hands ResourceMetrics to a sink and never talks to
// upstream.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "heartbeat/metrics_builder.hpp"
#include "watch/watch.hpp"

namespace sidelight::heartbeat {

namespace asio = boost::asio;

class heartbeat_emitter : public std::enable_shared_from_this<heartbeat_emitter> {
 public:
  // Receives one instance's metrics; `key` is stable for the instance's lifetime, and `gone` says
  // this is its last report.
  using sink =
      std::function<void(const std::string& key, otlp::metrics::v1::ResourceMetrics rm, bool gone)>;
  // Adds sidelight's own counters (exports, failures, …) to its self-telemetry.
  using self_metrics = std::function<void(otlp::metrics::v1::ScopeMetrics&, std::int64_t now)>;

  heartbeat_emitter(asio::io_context& io, std::string host_name, sink out);

  void set_self_metrics(self_metrics fn) { self_metrics_ = std::move(fn); }

  // Takes a (new) configuration and the watchers built for it; emits every instance at once.
  void configure(std::shared_ptr<const config::config> cfg,
                 std::vector<std::shared_ptr<watch::target_watcher>> watchers);

  // A watcher reported a change: emit that instance now.
  void on_report(const watch::instance_report& r);
  // The target as a whole changed (its probe began or ceased to fail): emit it now.
  void on_target_change(const watch::target_watcher& w);

  // The Resource the instance's heartbeats carry; nullopt for an unknown target.
  std::optional<otlp::resource::v1::Resource> resource_of(const watch::instance_report& r) const;
  // The configured `resource:` and host.name, which every client's telemetry gets too.
  otlp::resource::v1::Resource common_resource() const;

  // Emits every instance and sidelight itself now.
  void emit_all();
  // Emits sidelight's own state as stopping (heartbeat 0), for the final export.
  void emit_self_stopping();

  void stop();

  std::int64_t agent_start_unix_ns() const { return agent_start_; }

 private:
  void schedule(config::duration interval);
  void tick(config::duration interval);
  void emit_instance(const config::target& t, const watch::instance_report& r, std::int64_t now);
  // The target as a whole, under a Resource without service.instance.id.
  void emit_target(const config::target& t, const watch::target_watcher& w, std::int64_t now);
  // Every instance of the watcher, then the target.
  void emit_watcher(const watch::target_watcher& w, std::int64_t now,
                    std::optional<config::duration> only_interval);
  void emit_self(bool stopping);

  asio::io_context& io_;
  std::string host_name_;
  sink out_;
  self_metrics self_metrics_;
  std::int64_t agent_start_;
  std::shared_ptr<const config::config> cfg_;
  std::unique_ptr<metrics_builder> builder_;
  std::vector<std::shared_ptr<watch::target_watcher>> watchers_;
  std::map<std::string, const config::target*> targets_;
  std::map<std::string, const watch::target_watcher*> watcher_of_;
  std::map<config::duration, std::unique_ptr<asio::steady_timer>> timers_;
  std::string self_instance_id_;
  bool stopped_ = false;
};

}  // namespace sidelight::heartbeat
