#include "app/agent.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <ctime>
#include <set>

#include "agent_version.hpp"
#include "app/notify.hpp"
#include "config/loader.hpp"
#include "export/open_exporter.hpp"
#include "heartbeat/exit_event.hpp"
#include "heartbeat/self_metrics.hpp"
#include "log/fields.hpp"

namespace sidelight::app {

namespace otlp = opentelemetry::proto;

namespace {

constexpr stats::metric kBuildInfo{
    "sidelight.build.info", "",
    stats::kind::gauge,     "sidelight's version, as a label; always 1.",
    "build_info",           stats::prometheus | stats::otlp};
constexpr stats::metric kStartTime{
    "sidelight.start_time", "s",
    stats::kind::gauge,     "When sidelight started, in unix seconds.",
    "start_time",           stats::prometheus | stats::otlp};
constexpr stats::metric kReloads{"sidelight.config.reloads", "{reload}", stats::kind::counter,
                                 "Configuration reloads by outcome (applied, refused).", "reloads"};

std::string local_host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

bool has_process_targets(const config::config& cfg) {
  for (const auto& t : cfg.targets) {
    if (t.identity == config::target::kind::process) return true;
  }
  return false;
}

std::string iso8601(std::int64_t unix_ns) {
  if (unix_ns <= 0) return "";
  std::time_t t = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Equal fingerprints: a reload keeps the route as it is, queues and all.
std::string route_fingerprint(const config::config& cfg, const config::otlp_exporter& e) {
  return "otlp\x1f" + config::exporter_fingerprint(e) + "\x1e" + config::pipeline_fingerprint(cfg);
}
std::string route_fingerprint(const config::config& cfg, const config::console_exporter& c) {
  return "console\x1f" + c.name + "\x1f" + std::to_string(static_cast<int>(c.style)) + "\x1f" +
         c.path + "\x1e" + config::pipeline_fingerprint(cfg);
}

}  // namespace

agent::agent(config::config cfg)
    : signals_(io_, SIGTERM, SIGINT, SIGHUP),
      cfg_(std::make_shared<const config::config>(std::move(cfg))),
      host_name_(local_host_name()) {
  emitter_ = std::make_shared<heartbeat::heartbeat_emitter>(
      io_, host_name_,
      [this](const std::string& key, otlp::metrics::v1::ResourceMetrics rm, bool gone) {
        // Every route but the last gets a copy; the last takes the original.
        for (std::size_t i = 0; i + 1 < routes_.size(); ++i)
          routes_[i].path->offer(key, rm, gone);
        if (!routes_.empty()) routes_.back().path->offer(key, std::move(rm), gone);
      });
  emitter_->set_self_metrics([this](otlp::metrics::v1::ScopeMetrics& scope, std::int64_t now) {
    heartbeat::add_self_metrics(*this, scope, emitter_->agent_start_unix_ns(), now);
  });
  watch_ctx_ = std::make_unique<watch::watch_context>(watch::watch_context{io_, host_name_});
  policy_.set_budget(budget_);
  policy_.set_pressure(pressure_);
  watch_ctx_->sockets = &sockets_;
  exit_reasons_ = std::make_unique<watch::exit_reasons>(io_);
  watch_ctx_->exits = exit_reasons_.get();
}

agent::~agent() {
  // A reload still reading the file posts to a loop that no longer runs: its result is dropped.
  if (reload_thread_.joinable()) reload_thread_.join();
  stop_intake();
  for (auto& [fp, w] : watchers_)
    w->stop();
  for (auto& r : routes_)
    r.path->stop();
  for (auto& r : retiring_)
    r->stop();
}

std::variant<std::vector<agent::route>, std::string> agent::open_routes(const config::config& cfg) {
  std::vector<route> next;
  std::vector<bool> reused(routes_.size(), false);
  auto take_existing = [&](const std::string& fp) {
    for (std::size_t i = 0; i < routes_.size(); ++i) {
      if (!reused[i] && routes_[i].fingerprint == fp) {
        reused[i] = true;
        next.push_back(routes_[i]);
        return true;
      }
    }
    return false;
  };
  auto open = [&](const auto& e, const config::retry_settings& retry,
                  const config::spool_settings* spool) -> std::string {
    auto fp = route_fingerprint(cfg, e);
    if (take_existing(fp)) return "";
    auto exp = exporting::open_exporter(e);
    if (auto* err = std::get_if<std::string>(&exp)) return *err;
    auto& opened = std::get<exporting::opened_exporter>(exp);
    auto made = pipeline::exporter_route::open(
        io_, cfg, {std::move(opened.upstream), opened.shown, retry, spool, budget_, pressure_});
    if (auto* err = std::get_if<std::string>(&made)) return *err;
    next.push_back({fp, std::move(std::get<0>(made))});
    return "";
  };
  for (const auto& e : cfg.exporters.otlp) {
    if (auto err = open(e, e.retry, &e.spool); !err.empty()) return err;
  }
  for (const auto& c : cfg.exporters.console) {
    if (auto err = open(c, config::retry_settings{}, nullptr); !err.empty()) return err;
  }
  return next;
}

void agent::replace_routes(std::vector<route> next) {
  for (auto& old : routes_) {
    bool kept =
        std::any_of(next.begin(), next.end(), [&](const route& r) { return r.path == old.path; });
    if (kept) continue;
    for (auto& r : next)
      if (r.path->name() == old.path->name()) r.path->take_over(old.path);
    retire(old.path);
  }
  routes_ = std::move(next);
  auto list = std::make_shared<route_list>();
  for (const auto& r : routes_)
    list->push_back(r.path);
  std::lock_guard lock(delivery_mutex_);
  delivery_ = std::move(list);
}

// A replaced exporter keeps trying to deliver what it holds for shutdown_timeout, then goes.
void agent::retire(std::shared_ptr<pipeline::exporter_route> r) {
  retiring_.push_back(r);
  auto deadline = std::chrono::steady_clock::now() + cfg_->shutdown_timeout;
  r->flush(deadline, "when replaced by a reload", [this, r] {
    std::erase(retiring_, r);
    // Its final numbers go to whichever route took over from it.
    for (auto& next : routes_)
      next.path->settle(r.get());
    for (auto& next : retiring_)
      next->settle(r.get());
    // Joining the exporter's thread must not happen inside one of its callbacks' turns.
    asio::post(io_, [r] { r->stop(); });
  });
}

void agent::rebuild_watchers(const config::config& cfg) {
  // Process events tell new processes of `process:` targets, and how any watched process ended.
  if (!cfg.targets.empty() && !process_events_ && !process_events_failed_) {
    process_events_ = std::make_unique<watch::process_events>(io_);
    if (!process_events_->open()) {
      process_events_failed_ = true;
      spdlog::info(
          "kernel process events unavailable ({}): how a process ended is known only "
          "while it is a zombie, else `unknown`",
          process_events_->error());
      process_events_.reset();
    }
    exit_reasons_->attach(process_events_.get());
  }
  if (has_process_targets(cfg) && !process_events_) {
    spdlog::info(
        "scanning /proc every {} ms for new processes",
        std::chrono::duration_cast<std::chrono::milliseconds>(cfg.heartbeat.discovery_interval)
            .count());
  }
  watch_ctx_->events = process_events_.get();
  watch_ctx_->discovery_interval = cfg.heartbeat.discovery_interval;

  std::map<std::string, std::shared_ptr<watch::target_watcher>> next;
  for (const auto& t : cfg.targets) {
    auto fp = config::watch_fingerprint(t);
    if (auto it = watchers_.find(fp); it != watchers_.end()) {
      next[fp] = it->second;
      watchers_.erase(it);
      continue;
    }
    next[fp] = watch::make_watcher(
        *watch_ctx_, t,
        [this](const watch::instance_report& r) {
          emitter_->on_report(r);
          on_instance(r);
          if (r.what == watch::change::down && r.exit) send_exit_event(r);
          // A process target's instance that is gone for good is logged by its watcher, which sums
          // up churn instead of writing a line per exit.
          if (!r.final && (r.what == watch::change::down || r.what == watch::change::restart)) {
            log::info({.target = r.target,
                       .instance = r.instance_id,
                       .pid = r.process ? r.process->pid : 0,
                       .error = r.reason},
                      "target {}: {}{}", r.target, watch::to_string(r.what),
                      r.reason.empty() ? "" : " (" + r.reason + ")");
          }
        },
        [this](const watch::target_watcher& w) { on_probe_change(w); });
  }
  for (auto& [fp, w] : watchers_)
    w->stop();
  watchers_ = std::move(next);
}

void agent::warn_unapplied(const config::config& next) const {
  if (config::intake_fingerprint(cfg_->intake) != config::intake_fingerprint(next.intake)) {
    spdlog::warn("intake listeners changed: the change takes effect at the next start");
  }
  if (cfg_->admin.listen != next.admin.listen) {
    spdlog::warn("admin.listen changed from '{}' to '{}': it takes effect at the next start",
                 cfg_->admin.listen, next.admin.listen);
  }
}

std::string agent::apply(std::shared_ptr<const config::config> cfg) {
  // Exporters first: if one cannot be built, nothing changes.
  auto opened = open_routes(*cfg);
  if (auto* err = std::get_if<std::string>(&opened)) return *err;
  replace_routes(std::move(std::get<0>(opened)));
  // Only now that the configuration is in force: what the spools kept from an earlier run goes
  // to the lanes that will send it (a refused configuration leaves it on disk).
  for (auto& r : routes_)
    r.path->recover();

  std::set<const watch::target_watcher*> running;
  for (const auto& [fp, w] : watchers_)
    running.insert(w.get());
  rebuild_watchers(*cfg);
  if (cfg_ != cfg) warn_unapplied(*cfg);
  cfg_ = cfg;
  std::vector<std::shared_ptr<watch::target_watcher>> ordered;
  for (const auto& t : cfg->targets)
    ordered.push_back(watchers_.at(config::watch_fingerprint(t)));
  emitter_->configure(cfg_, ordered);
  for (auto& w : ordered)
    if (!running.count(w.get())) w->start();
  ordered_watchers_ = std::move(ordered);

  policy_.set_common(emitter_->common_resource());
  policy_.set_sampling(cfg->intake.sampling);
  policy_.set_max_chunk_bytes(cfg->batch.max_bytes);
  budget_->set_limit(cfg->queue.memory_limit);
  policy_.buffers().set_limit(cfg->intake.max_buffered_bytes);
  if (grpc_intake_) grpc_intake_->set_buffer_limit(cfg->intake.max_buffered_bytes);
  spdlog::info("watching {} target(s); heartbeat every {}s", cfg->targets.size(),
               std::chrono::duration_cast<std::chrono::seconds>(cfg->heartbeat.interval).count());
  return "";
}

void agent::reload() {
  if (reloading_) {
    reload_again_ = true;
    return;
  }
  reloading_ = true;
  notify_systemd("RELOADING=1");
  if (reload_thread_.joinable()) reload_thread_.join();  // done: it posted its result
  reload_thread_ = std::thread([this, source = cfg_->source] {
    auto result = std::make_shared<config::load_result>(config::load_file(source));
    asio::post(io_, [this, result] { finish_reload(std::move(*result)); });
  });
}

void agent::finish_reload(config::load_result result) {
  reloading_ = false;
  if (stopping_) return;
  // A file of many mistakes is not logged whole.
  constexpr std::size_t kProblemsLogged = 50;
  for (std::size_t i = 0; i < std::min(result.problems.size(), kProblemsLogged); ++i) {
    const auto& p = result.problems[i];
    if (p.level == config::problem::severity::error) {
      spdlog::error("reload: {}", config::format_problem(p));
    } else {
      spdlog::warn("reload: {}", config::format_problem(p));
    }
  }
  if (result.problems.size() > kProblemsLogged) {
    spdlog::error("reload: {} more problem(s) not shown", result.problems.size() - kProblemsLogged);
  }
  bool applied = false;
  if (!result.ok()) {
    spdlog::error("reload refused: {} problem(s) in {}; the running configuration stays in force",
                  result.error_count(), cfg_->source);
  } else if (auto err = apply(std::make_shared<const config::config>(std::move(*result.value)));
             !err.empty()) {
    spdlog::error("reload refused: {}; the running configuration stays in force", err);
  } else {
    applied = true;
    spdlog::info("reloaded {}", cfg_->source);
  }
  applied ? ++reloads_ : ++reloads_refused_;
  notify_systemd("READY=1");
  if (std::exchange(reload_again_, false)) reload();
}

void agent::wait_for_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      if (!stopping_) reload();
      wait_for_signals();
      return;
    }
    if (stopping_) {
      spdlog::warn("second stop signal: exiting without waiting for the flush");
      io_.stop();
      return;
    }
    spdlog::info("received {}: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    request_stop();
    wait_for_signals();
  });
}

void agent::request_stop() {
  if (stopping_) return;
  stopping_ = true;
  notify_systemd("STOPPING=1");
  // The final export: every instance as it is now, and sidelight itself as stopping.
  emitter_->emit_all();
  emitter_->emit_self_stopping();
  emitter_->stop();
  for (auto& [fp, w] : watchers_)
    w->stop();
  if (admin_) admin_->stop();

  stop_intake();

  auto deadline = std::chrono::steady_clock::now() + cfg_->shutdown_timeout;
  auto finish = [this] {
    for (auto& r : routes_)
      r.path->stop();
    // stop() completed every call still in flight; their outcomes are queued on this loop and
    // settle the lanes' books before it stops.
    asio::post(io_, [this] { io_.stop(); });
  };
  if (routes_.empty()) {
    asio::post(io_, finish);
    return;
  }
  auto pending = std::make_shared<std::size_t>(routes_.size());
  for (auto& r : routes_) {
    r.path->flush(deadline, "within shutdown_timeout", [this, pending, finish] {
      if (--*pending == 0) asio::post(io_, finish);
    });
  }
}

std::string agent::start_intake() {
  const auto& in = cfg_->intake;
  if (!in.otlp_grpc.enabled() && !in.otlp_http.enabled() && !in.ndjson.enabled()) return "";
  auto deliver = [this](codec::signal s, pipeline::chunk c) { this->deliver(s, std::move(c)); };
  if (in.otlp_grpc.enabled()) {
    auto made =
        intake::otlp_grpc_server::start(io_, in.otlp_grpc, policy_, deliver, intake_counters_);
    if (auto* err = std::get_if<std::string>(&made)) return *err;
    grpc_intake_ = std::move(std::get<0>(made));
    spdlog::info("intake: OTLP/gRPC on {}", grpc_intake_->address());
  }
  if (in.ndjson.enabled()) {
    ndjson_workers_ = std::make_unique<intake::io_pool>(in.ndjson.threads, "sl-ndjson");
    auto made = intake::ndjson_server::start(intake_io_, *ndjson_workers_, in.ndjson, policy_,
                                             deliver, intake_counters_);
    if (auto* err = std::get_if<std::string>(&made)) return *err;
    ndjson_intake_ = std::get<0>(std::move(made));
    spdlog::info("intake: NDJSON on {}", ndjson_intake_->address());
  }
  if (in.otlp_http.enabled()) {
    auto made = intake::otlp_http_server::start(intake_io_, in.otlp_http, policy_, deliver,
                                                intake_counters_);
    if (auto* err = std::get_if<std::string>(&made)) return *err;
    http_intake_ = std::get<0>(std::move(made));
    spdlog::info("intake: OTLP/HTTP on {}", http_intake_->address());
  }
  intake_work_.emplace(intake_io_.get_executor());
  intake_thread_ = std::thread([this] { intake_io_.run(); });
  return "";
}

void agent::stop_intake() {
  if (grpc_intake_) grpc_intake_->shutdown();
  if (ndjson_intake_) {
    asio::post(intake_io_, [s = ndjson_intake_] { s->shutdown(); });
  }
  if (http_intake_) {
    asio::post(intake_io_, [s = http_intake_] { s->shutdown(); });
  }
  intake_work_.reset();
  if (intake_thread_.joinable()) intake_thread_.join();
  // Also when the thread never started (start_intake failed): shutdown() is idempotent.
  if (ndjson_intake_) ndjson_intake_->shutdown();
  if (http_intake_) http_intake_->shutdown();
  // Its connections were told to close: the threads finish them and end.
  if (ndjson_workers_) ndjson_workers_->stop();
  ndjson_intake_.reset();
  http_intake_.reset();
}

void agent::deliver(codec::signal s, pipeline::chunk c) {
  std::shared_ptr<const route_list> routes;
  {
    std::lock_guard lock(delivery_mutex_);
    routes = delivery_;
  }
  for (std::size_t i = 0; i + 1 < routes->size(); ++i)
    (*routes)[i]->offer(s, c);
  if (!routes->empty()) routes->back()->offer(s, std::move(c));
}

void agent::send_exit_event(const watch::instance_report& r) {
  auto resource = emitter_->resource_of(r);
  if (!resource) return;
  auto rl =
      heartbeat::build_exit_event(std::move(*resource), r.target, *r.exit, watch::now_unix_ns());
  auto bytes = std::make_shared<codec::payload>();
  codec::append_field1(*bytes, rl.SerializeAsString());
  deliver(codec::signal::logs, pipeline::chunk{std::move(bytes), 1, {}, {}});
}

void agent::on_probe_change(const watch::target_watcher& w) {
  emitter_->on_target_change(w);
  const auto& probe = w.last_probe();
  if (!probe) return;
  const auto& name = w.target().name;
  if (probe->ok) {
    log::info({.target = name}, "target {}: probe succeeds", name);
  } else {
    log::warn({.target = name, .error = probe->reason}, "target {}: probe failed: {} ({})", name,
              probe->failure, probe->reason);
  }
}

void agent::on_instance(const watch::instance_report& r) {
  if (!r.process) return;
  if (r.up && !r.final) {
    if (auto resource = emitter_->resource_of(r)) {
      policy_.set_instance(r.process->identity(), *resource);
    }
  } else {
    policy_.erase_instance(r.process->identity());
  }
}

void agent::visit(stats::sink& out) const {
  out.fact("version", SIDELIGHT_VERSION);
  out.fact("pid", static_cast<std::int64_t>(::getpid()));
  out.fact("config", cfg_->source);
  out.fact("started", iso8601(started_unix_ns_));
  out.fact("started_unix_nano", started_unix_ns_);
  out.fact("now_unix_nano", watch::now_unix_ns());
  out.fact("timeline_window_seconds", watch::state_timeline::kWindowNs / 1'000'000'000);
  out.value(kBuildInfo, {{"version", SIDELIGHT_VERSION}}, 1);
  out.value(kStartTime, {}, static_cast<double>(started_unix_ns_) / 1e9);
  out.value(kReloads, {{"outcome", "applied"}}, static_cast<double>(reloads_));
  out.value(kReloads, {{"outcome", "refused"}}, static_cast<double>(reloads_refused_));
  for (const auto& w : ordered_watchers_)
    w->visit(out);
  for (const auto& r : routes_)
    r.path->visit(out);
  intake::report(out, policy_.buffers());
  if (grpc_intake_) {
    intake::report(out, intake::protocol::otlp_grpc,
                   intake_counters_.of(intake::protocol::otlp_grpc), grpc_intake_->address());
  }
  if (http_intake_) {
    intake::report(out, intake::protocol::otlp_http,
                   intake_counters_.of(intake::protocol::otlp_http), http_intake_->address());
  }
  if (ndjson_intake_) {
    intake::report(out, intake::protocol::ndjson, intake_counters_.of(intake::protocol::ndjson),
                   ndjson_intake_->address());
  }
}

std::vector<std::string> agent::not_ready() const {
  std::vector<std::string> out;
  for (const auto& r : routes_)
    r.path->not_ready(out);
  return out;
}

int agent::run() {
  started_unix_ns_ = watch::now_unix_ns();
  // Every client connection is a descriptor: use all the hard limit allows.
  if (rlimit nofile{};
      ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  // The admin address first: if it is taken, nothing else has started.
  if (!cfg_->admin.listen.empty()) {
    auto made = admin::admin_server::listen(io_, cfg_->admin.listen, *this);
    if (auto* err = std::get_if<std::string>(&made)) {
      spdlog::error(
          "cannot start: admin: {} (set admin.listen to another address, or \"\" to "
          "turn the admin endpoints off)",
          *err);
      return 2;
    }
    admin_ = std::get<0>(std::move(made));
    spdlog::info("admin: /healthz /readyz /metrics /api/v1/status on {}", admin_->address());
  }
  if (auto err = apply(cfg_); !err.empty()) {
    spdlog::error("cannot start: {}", err);
    return 2;
  }
  if (auto err = start_intake(); !err.empty()) {
    spdlog::error("cannot start: intake: {}", err);
    stop_intake();
    return 2;
  }

  wait_for_signals();
  notify_systemd("READY=1");
  // systemd's watchdog hears from us only while this loop, the exporters' threads and the intake
  // thread answer (app/watchdog.hpp); the probe runs on this loop.
  watchdog_ = watchdog::from_environment(io_, [this](watchdog_round& round) {
    for (auto& r : routes_)
      r.path->probe(round.expect("exporter " + r.path->name()));
    if (intake_thread_.joinable()) asio::post(intake_io_, round.expect("intake"));
    for (std::size_t i = 0; ndjson_workers_ && i < ndjson_workers_->size(); ++i)
      asio::post(ndjson_workers_->at(i), round.expect("ndjson thread " + std::to_string(i + 1)));
  });
  io_.run();
  watchdog_.reset();
  return exit_code_;
}

}  // namespace sidelight::app
