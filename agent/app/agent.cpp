#include "app/agent.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "admin/admin_server.hpp"
#include "agent_version.hpp"
#include "app/notify.hpp"
#include "config/loader.hpp"
#include "export/console_exporter.hpp"
#include "export/multi_exporter.hpp"
#include "export/otlp_grpc_exporter.hpp"
#include "export/otlp_http_exporter.hpp"
#include "log/fields.hpp"

namespace sidelight::app {

namespace otlp = opentelemetry::proto;

namespace {

// An exporter of type E for `cfg`, or the error text that kept it from starting.
template <class E>
std::variant<std::shared_ptr<exporting::exporter>, std::string> open_exporter(
    const config::otlp_exporter& cfg) {
  auto made = E::create(cfg);
  if (auto* err = std::get_if<std::string>(&made)) return *err;
  return std::shared_ptr<exporting::exporter>(std::move(std::get<0>(made)));
}

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

// One metric with a data point per attribute set, as OTLP expects.
class metric_writer {
 public:
  metric_writer(otlp::metrics::v1::ScopeMetrics& scope, std::int64_t start, std::int64_t now)
      : scope_(scope), start_(start), now_(now) {}

  otlp::metrics::v1::Metric& counter(const std::string& name, const std::string& unit,
                                     const std::string& description) {
    auto& m = make(name, unit, description);
    m.mutable_sum()->set_is_monotonic(true);
    m.mutable_sum()->set_aggregation_temporality(
        otlp::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
    return m;
  }
  otlp::metrics::v1::Metric& gauge(const std::string& name, const std::string& unit,
                                   const std::string& description) {
    auto& m = make(name, unit, description);
    m.mutable_gauge();
    return m;
  }
  void point(otlp::metrics::v1::Metric& m, std::int64_t value,
             std::initializer_list<std::pair<const char*, std::string>> attrs) {
    auto* dp =
        m.has_sum() ? m.mutable_sum()->add_data_points() : m.mutable_gauge()->add_data_points();
    if (m.has_sum()) dp->set_start_time_unix_nano(static_cast<std::uint64_t>(start_));
    dp->set_time_unix_nano(static_cast<std::uint64_t>(now_));
    dp->set_as_int(value);
    for (const auto& [k, v] : attrs)
      heartbeat::set_attribute(*dp->mutable_attributes(), k, v);
  }

 private:
  otlp::metrics::v1::Metric& make(const std::string& name, const std::string& unit,
                                  const std::string& description) {
    auto* m = scope_.add_metrics();
    m->set_name(name);
    m->set_unit(unit);
    m->set_description(description);
    return *m;
  }
  otlp::metrics::v1::ScopeMetrics& scope_;
  std::int64_t start_;
  std::int64_t now_;
};

std::array<std::shared_ptr<pipeline::signal_lane>, 3> make_lanes(
    asio::io_context& io, const std::shared_ptr<exporting::exporter>& exp,
    const config::config& cfg, const config::retry_settings& retry,
    const std::shared_ptr<pipeline::memory_budget>& budget,
    const std::array<std::shared_ptr<pipeline::spool>, 3>& spools = {},
    std::uint64_t spool_max_bytes = 0) {
  pipeline::lane_settings ls;
  ls.queue_max_bytes = cfg.queue.max_bytes;
  ls.queue_max_items = cfg.queue.max_items;
  ls.batch_max_items = cfg.batch.max_items;
  ls.batch_max_bytes = cfg.batch.max_bytes;
  ls.batch_timeout = cfg.batch.timeout;
  ls.retry = retry;
  ls.budget = budget;
  std::array<std::shared_ptr<pipeline::signal_lane>, 3> lanes;
  for (auto s : {exporting::signal::traces, exporting::signal::metrics, exporting::signal::logs}) {
    auto i = static_cast<std::size_t>(s);
    auto settings = ls;
    if (spools[i]) {
      // The spool holds the payloads: its budget bounds the lane, and no memory is held for them.
      // What memory the lane does hold, an entry for each chunk, stays within queue.max_bytes.
      settings.spool = spools[i];
      settings.budget = nullptr;
      settings.queue_max_bytes = spool_max_bytes;
      settings.queue_max_chunks =
          std::max<std::uint64_t>(1, cfg.queue.max_bytes / pipeline::kSpooledChunkMemory);
    }
    lanes[i] = std::make_shared<pipeline::signal_lane>(io, exp, s, settings);
  }
  return lanes;
}

// The spools of an exporter, one directory per signal; an error text when one cannot be opened.
std::variant<std::array<std::shared_ptr<pipeline::spool>, 3>, std::string> open_spools(
    const config::otlp_exporter& e) {
  std::array<std::shared_ptr<pipeline::spool>, 3> out;
  if (e.spool.dir.empty()) return out;
  std::string name = e.name;
  std::replace(name.begin(), name.end(), '/', '_');
  for (auto s : {exporting::signal::traces, exporting::signal::metrics, exporting::signal::logs}) {
    pipeline::spool::options o;
    o.dir = e.spool.dir + "/" + name + "/" + std::string(exporting::to_string(s));
    o.fsync = e.spool.fsync;
    std::string error;
    out[static_cast<std::size_t>(s)] = pipeline::spool::open(o, error);
    if (!out[static_cast<std::size_t>(s)]) return "spool: " + error;
  }
  return out;
}

}  // namespace

agent::agent(config::config cfg)
    : signals_(io_, SIGTERM, SIGINT, SIGHUP),
      cfg_(std::make_shared<const config::config>(std::move(cfg))),
      host_name_(local_host_name()) {
  emitter_ = std::make_shared<heartbeat::heartbeat_emitter>(
      io_, host_name_, [this](const std::string& key, otlp::metrics::v1::ResourceMetrics rm) {
        for (std::size_t i = 0; i < exporters_.size(); ++i) {
          if (i + 1 == exporters_.size()) {
            exporters_[i].lane->offer(key, std::move(rm));
          } else {
            exporters_[i].lane->offer(key, rm);
          }
        }
      });
  emitter_->set_self_metrics([this](otlp::metrics::v1::ScopeMetrics& scope, std::int64_t now) {
    add_self_metrics(scope, now);
  });
  watch_ctx_ = std::make_unique<watch::watch_context>(watch::watch_context{io_, host_name_});
  policy_.set_budget(budget_);
  watch_ctx_->sockets = &sockets_;
}

agent::~agent() {
  stop_intake();
  for (auto& [fp, w] : watchers_)
    w->stop();
  for (auto* slots : {&exporters_, &retiring_}) {
    for (auto& slot : *slots) {
      slot.lane->stop();
      for (auto& l : slot.lanes)
        l->stop();
      slot.exporter->shutdown();
    }
  }
}

std::string agent::apply(std::shared_ptr<const config::config> cfg) {
  // Exporters first: if one cannot be built, nothing changes.
  std::vector<exporter_slot> next;
  std::vector<bool> reused(exporters_.size(), false);
  auto take_existing = [&](const std::string& fp) -> bool {
    for (std::size_t i = 0; i < exporters_.size(); ++i) {
      if (!reused[i] && exporters_[i].fingerprint == fp) {
        reused[i] = true;
        next.push_back(exporters_[i]);
        return true;
      }
    }
    return false;
  };
  for (const auto& e : cfg->exporters.otlp) {
    auto fp =
        "otlp\x1f" + config::exporter_fingerprint(e) + "\x1e" + config::pipeline_fingerprint(*cfg);
    if (take_existing(fp)) continue;
    bool http = e.wire == config::otlp_exporter::protocol::http_protobuf;
    std::vector<exporting::multi_exporter::member> members;
    std::string endpoints;
    for (const auto& t : e.targets) {
      auto one = e;
      one.target = t;
      auto made = http ? open_exporter<exporting::otlp_http_exporter>(one)
                       : open_exporter<exporting::otlp_grpc_exporter>(one);
      if (auto* err = std::get_if<std::string>(&made)) return "exporter " + e.name + ": " + *err;
      members.push_back({std::move(std::get<0>(made)), t.text});
      endpoints += (endpoints.empty() ? "" : ", ") + t.text +
                   (one.use_tls() ? " (TLS" : " (plaintext") +
                   (e.codec == config::otlp_exporter::compression::gzip ? ", gzip)" : ")");
    }
    std::shared_ptr<exporting::exporter> exp =
        members.size() == 1
            ? members.front().upstream
            : std::make_shared<exporting::multi_exporter>(e.name, std::move(members), e.balance);
    auto lane = std::make_shared<pipeline::liveness_lane>(io_, exp, e.retry);
    std::string shown;  // in `sidelight status`
    for (const auto& t : e.targets)
      shown += (shown.empty() ? "" : ",") + t.text;
    auto spools = open_spools(e);
    if (auto* err = std::get_if<std::string>(&spools)) return "exporter " + e.name + ": " + *err;
    next.push_back(
        {fp, exp, lane,
         make_lanes(io_, exp, *cfg, e.retry, budget_, std::get<0>(spools), e.spool.max_bytes),
         shown});
    spdlog::info("exporter {}: {} to {}{}", e.name, http ? "OTLP/HTTP" : "OTLP/gRPC", endpoints,
                 e.targets.size() < 2 ? ""
                 : e.balance == config::otlp_exporter::balancing::failover
                     ? ", failing over in this order"
                     : ", taking turns");
  }
  for (const auto& c : cfg->exporters.console) {
    auto fp = "console\x1f" + c.name + "\x1f" + std::to_string(static_cast<int>(c.style)) + "\x1f" +
              c.path + "\x1e" + config::pipeline_fingerprint(*cfg);
    if (take_existing(fp)) continue;
    std::shared_ptr<exporting::exporter> exp;
    if (c.path.empty()) {
      exp = std::make_shared<exporting::console_exporter>(c);
    } else {
      auto made = exporting::console_exporter::open_file(c);
      if (auto* err = std::get_if<std::string>(&made)) return "exporter " + c.name + ": " + *err;
      exp = std::move(std::get<0>(made));
    }
    auto lane = std::make_shared<pipeline::liveness_lane>(io_, exp, config::retry_settings{});
    auto where = c.path.empty() ? std::string("stdout") : c.path;
    next.push_back(
        {fp, exp, lane, make_lanes(io_, exp, *cfg, config::retry_settings{}, budget_), where});
    spdlog::info("exporter {}: writing {} to {}", c.name,
                 c.style == config::console_exporter::format::json ? "OTLP/JSON lines" : "text",
                 c.path.empty() ? "standard output" : c.path);
  }
  for (std::size_t i = 0; i < exporters_.size(); ++i) {
    if (!reused[i]) retire(exporters_[i]);
  }
  exporters_ = std::move(next);
  // Only now that the configuration is in force: what the spools kept from an earlier run goes
  // to the lanes that will send it (a refused configuration leaves it on disk).
  for (auto& slot : exporters_)
    for (auto& l : slot.lanes)
      if (l) l->recover();

  if (has_process_targets(*cfg) && !process_events_) {
    process_events_ = std::make_unique<watch::process_events>(io_);
    if (!process_events_->open()) {
      spdlog::info(
          "kernel process events unavailable ({}); scanning /proc every {} ms for new "
          "processes",
          process_events_->error(),
          std::chrono::duration_cast<std::chrono::milliseconds>(cfg->heartbeat.discovery_interval)
              .count());
      process_events_.reset();
    }
  }
  watch_ctx_->events = process_events_.get();
  watch_ctx_->discovery_interval = cfg->heartbeat.discovery_interval;

  std::map<std::string, std::shared_ptr<watch::target_watcher>> next_watchers;
  std::vector<std::shared_ptr<watch::target_watcher>> ordered;
  std::vector<std::shared_ptr<watch::target_watcher>> fresh;
  for (const auto& t : cfg->targets) {
    auto fp = config::watch_fingerprint(t);
    auto it = watchers_.find(fp);
    std::shared_ptr<watch::target_watcher> w;
    if (it != watchers_.end()) {
      w = it->second;
      watchers_.erase(it);
    } else {
      w = watch::make_watcher(*watch_ctx_, t, [this](const watch::instance_report& r) {
        emitter_->on_report(r);
        on_instance(r);
        if (r.what != watch::change::none) {
          if (r.final) {
            last_changes_.erase(r.instance_id);
          } else {
            last_changes_[r.instance_id] = {watch::now_unix_ns(), r.what};
          }
        }
        if (r.what == watch::change::down || r.what == watch::change::restart) {
          log::info({.target = r.target,
                     .instance = r.instance_id,
                     .pid = r.process ? r.process->pid : 0,
                     .error = r.reason},
                    "target {}: {}{}", r.target, watch::to_string(r.what),
                    r.reason.empty() ? "" : " (" + r.reason + ")");
        }
      });
      fresh.push_back(w);
    }
    next_watchers[fp] = w;
    ordered.push_back(w);
  }
  for (auto& [fp, w] : watchers_)
    w->stop();
  watchers_ = std::move(next_watchers);

  if (cfg_ != cfg &&
      config::intake_fingerprint(cfg_->intake) != config::intake_fingerprint(cfg->intake)) {
    spdlog::warn("intake listeners changed: the change takes effect at the next start");
  }
  if (cfg_ != cfg && cfg_->admin.listen != cfg->admin.listen) {
    spdlog::warn("admin.listen changed from '{}' to '{}': it takes effect at the next start",
                 cfg_->admin.listen, cfg->admin.listen);
  }
  cfg_ = cfg;
  emitter_->configure(cfg_, ordered);
  for (auto& w : fresh)
    w->start();

  policy_.set_common(emitter_->common_resource());
  policy_.set_sampling(cfg->intake.sampling);
  policy_.set_max_chunk_bytes(cfg->batch.max_bytes);
  budget_->set_limit(cfg->queue.memory_limit);
  publish_lanes();
  spdlog::info("watching {} target(s); heartbeat every {}s", cfg->targets.size(),
               std::chrono::duration_cast<std::chrono::seconds>(cfg->heartbeat.interval).count());
  return "";
}

// A replaced exporter keeps trying to deliver what it holds for shutdown_timeout, then goes.
void agent::retire(exporter_slot slot) {
  retiring_.push_back(slot);
  auto deadline = std::chrono::steady_clock::now() + cfg_->shutdown_timeout;
  // The exporter goes once its heartbeat lane and its three signal lanes have all flushed.
  auto pending = std::make_shared<std::size_t>(1 + slot.lanes.size());
  auto one_done = [this, pending, exp = slot.exporter] {
    if (--*pending > 0) return;
    for (auto it = retiring_.begin(); it != retiring_.end(); ++it) {
      if (it->exporter == exp) {
        auto s = *it;
        retiring_.erase(it);
        s.lane->stop();
        for (auto& l : s.lanes)
          l->stop();
        // Joining the exporter's thread must not happen inside one of its callbacks' turns.
        asio::post(io_, [s] { s.exporter->shutdown(); });
        break;
      }
    }
  };
  for (auto& l : slot.lanes) {
    l->flush(deadline, [one_done, lane = l.get()](std::uint64_t left) {
      if (left > 0) {
        spdlog::warn("exporter {}: replaced by reload with {} {} item(s) not confirmed delivered",
                     lane->exporter_name(), left, exporting::to_string(lane->signal()));
      }
      one_done();
    });
  }
  slot.lane->flush(deadline, [one_done, lane = slot.lane.get()](std::size_t left) {
    if (left > 0) {
      spdlog::warn("exporter {}: replaced by reload with {} instance state(s) unsent",
                   lane->exporter_name(), left);
    }
    one_done();
  });
}

bool agent::reload() {
  notify_systemd("RELOADING=1");
  auto result = config::load_file(cfg_->source);
  for (const auto& p : result.problems) {
    if (p.level == config::problem::severity::error) {
      spdlog::error("reload: {}", config::format_problem(p));
    } else {
      spdlog::warn("reload: {}", config::format_problem(p));
    }
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
  return applied;
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
  auto lanes = std::make_shared<std::size_t>(exporters_.size() * 4);
  auto finish = [this] {
    for (auto& slot : exporters_) {
      slot.lane->stop();
      for (auto& l : slot.lanes)
        l->stop();
      slot.exporter->shutdown();
    }
    // shutdown() completed every call still in flight; their outcomes are queued on this loop and
    // settle the lanes' books before it stops.
    asio::post(io_, [this] { io_.stop(); });
  };
  if (exporters_.empty()) {
    asio::post(io_, finish);
    return;
  }
  for (auto& slot : exporters_) {
    slot.lane->flush(deadline, [this, lanes, finish, lane = slot.lane](std::size_t left) {
      if (left > 0) {
        spdlog::warn(
            "exporter {}: {} instance state(s) could not be sent within "
            "shutdown_timeout ({})",
            lane->exporter_name(), left, lane->stats().last_error);
      }
      if (--*lanes == 0) asio::post(io_, finish);
    });
    for (auto& l : slot.lanes) {
      l->flush(deadline, [this, lanes, finish, l](std::uint64_t left) {
        if (left > 0) {
          auto st = l->stats();
          spdlog::warn(
              "exporter {}: {} {} item(s) not confirmed delivered within shutdown_timeout ({})",
              l->exporter_name(), left, exporting::to_string(l->signal()), st.last_error);
        }
        if (--*lanes == 0) asio::post(io_, finish);
      });
    }
  }
}

std::string agent::start_intake() {
  const auto& in = cfg_->intake;
  if (!in.otlp_grpc.enabled() && !in.otlp_http.enabled() && !in.ndjson.enabled()) return "";
  auto deliver = [this](exporting::signal s, pipeline::chunk c) { this->deliver(s, std::move(c)); };
  if (in.otlp_grpc.enabled()) {
    auto made =
        intake::otlp_grpc_server::start(io_, in.otlp_grpc, policy_, deliver, intake_counters_);
    if (auto* err = std::get_if<std::string>(&made)) return *err;
    grpc_intake_ = std::move(std::get<0>(made));
    spdlog::info("intake: OTLP/gRPC on {}", grpc_intake_->address());
  }
  if (in.ndjson.enabled()) {
    auto made =
        intake::ndjson_server::start(intake_io_, in.ndjson, policy_, deliver, intake_counters_);
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
  ndjson_intake_.reset();
  http_intake_.reset();
}

void agent::publish_lanes() {
  std::vector<std::array<std::shared_ptr<pipeline::signal_lane>, 3>> lanes;
  for (const auto& slot : exporters_)
    lanes.push_back(slot.lanes);
  std::lock_guard lock(lanes_mutex_);
  live_lanes_ = std::move(lanes);
}

void agent::deliver(exporting::signal s, pipeline::chunk c) {
  std::lock_guard lock(lanes_mutex_);
  auto i = static_cast<std::size_t>(s);
  for (std::size_t e = 0; e < live_lanes_.size(); ++e)
    live_lanes_[e][i]->offer(e + 1 == live_lanes_.size() ? std::move(c) : c);
}

void agent::on_instance(const watch::instance_report& r) {
  if (!r.process) return;
  if (r.up && !r.final) {
    if (auto resource = emitter_->resource_of(r)) policy_.set_instance(r.process->pid, *resource);
  } else {
    policy_.erase_instance(r.process->pid);
  }
}

admin::status_snapshot agent::snapshot() const {
  admin::status_snapshot s;
  s.version = SIDELIGHT_VERSION;
  s.pid = ::getpid();
  s.started_unix_ns = started_unix_ns_;
  s.now_unix_ns = watch::now_unix_ns();
  s.config_path = cfg_->source;
  s.reloads_applied = reloads_;
  s.reloads_refused = reloads_refused_;
  for (const auto& t : cfg_->targets) {
    auto it = watchers_.find(config::watch_fingerprint(t));
    if (it == watchers_.end()) continue;
    it->second->for_each_instance([&](const watch::instance_report& r) {
      admin::instance_status i;
      i.target = r.target;
      i.kind = std::string(config::to_string(t.identity));
      i.instance_id = r.instance_id;
      i.up = r.up;
      if (r.process) i.pid = r.process->pid;
      if (r.up && r.up_since_unix_ns > 0 && s.now_unix_ns > r.up_since_unix_ns) {
        i.uptime_seconds = static_cast<double>(s.now_unix_ns - r.up_since_unix_ns) / 1e9;
      }
      i.restarts = r.restarts;
      i.reason = r.reason;
      if (auto c = last_changes_.find(r.instance_id); c != last_changes_.end()) {
        i.last_change_unix_ns = c->second.unix_ns;
        i.last_change = std::string(watch::to_string(c->second.what));
      }
      s.instances.push_back(std::move(i));
    });
  }
  for (const auto& slot : exporters_) {
    const auto& st = slot.lane->stats();
    admin::exporter_status e;
    e.name = slot.exporter->name();
    e.endpoint = slot.endpoint;
    e.upstream_ok = st.upstream_ok;
    e.points_exported = st.points_exported;
    e.points_rejected = st.points_rejected;
    e.points_superseded = st.points_superseded;
    e.requests_ok = st.requests_ok;
    e.requests_failed = st.requests_failed;
    e.retries = st.retries;
    e.pending_states = slot.lane->pending();
    e.last_latency_seconds = std::chrono::duration<double>(st.last_latency).count();
    e.last_error = st.last_error;
    s.exporters.push_back(std::move(e));
    for (const auto& lane : slot.lanes) {
      auto ls = lane->stats();
      admin::lane_status l;
      l.exporter = slot.exporter->name();
      l.signal = std::string(exporting::to_string(lane->signal()));
      l.upstream_ok = ls.upstream_ok;
      l.received = ls.received_items;
      l.recovered = ls.recovered_items;
      l.exported = ls.exported_items;
      for (std::size_t r = 0; r < pipeline::kDropReasons; ++r) {
        l.dropped[std::string(pipeline::to_string(static_cast<pipeline::drop_reason>(r)))] =
            ls.dropped_items[r];
      }
      l.queued_items = ls.queued_items;
      l.queued_bytes = ls.queued_bytes;
      l.in_flight = ls.in_flight_items;
      l.requests_ok = ls.requests_ok;
      l.requests_failed = ls.requests_failed;
      l.retries = ls.retries;
      l.latency_bounds.assign(pipeline::kLatencyBounds.begin(), pipeline::kLatencyBounds.end());
      l.latency_buckets.assign(ls.latency_buckets.begin(), ls.latency_buckets.end());
      l.latency_sum_seconds = ls.latency_sum_seconds;
      l.last_error = ls.last_error;
      s.lanes.push_back(std::move(l));
    }
  }
  auto add_intake = [&](intake::protocol p, const std::string& address) {
    const auto& c = intake_counters_.of(p);
    admin::intake_status i;
    i.protocol = std::string(intake::to_string(p));
    i.address = address;
    i.requests = c.requests.load();
    i.items = c.items.load();
    i.sampled_out = c.sampled_out.load();
    i.rejected = c.rejected.load();
    i.bytes = c.bytes.load();
    i.bad = c.bad_requests.load();
    i.connections = c.connections.load();
    i.connections_evicted = c.connections_evicted.load();
    i.open_connections = c.open_connections.load();
    s.intake.push_back(std::move(i));
  };
  if (grpc_intake_) add_intake(intake::protocol::otlp_grpc, grpc_intake_->address());
  if (http_intake_) add_intake(intake::protocol::otlp_http, http_intake_->address());
  if (ndjson_intake_) add_intake(intake::protocol::ndjson, ndjson_intake_->address());
  return s;
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
    auto made = admin::admin_server::listen(io_, cfg_->admin.listen, [this] { return snapshot(); });
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
    for (auto& slot : exporters_)
      slot.exporter->probe(round.expect("exporter " + slot.exporter->name()));
    if (intake_thread_.joinable()) asio::post(intake_io_, round.expect("intake"));
  });
  io_.run();
  watchdog_.reset();
  return exit_code_;
}

void agent::add_self_metrics(otlp::metrics::v1::ScopeMetrics& scope, std::int64_t now) {
  metric_writer w(scope, emitter_->agent_start_unix_ns(), now);
  auto& points = w.counter("sidelight.export.data_points", "{data_point}",
                           "Heartbeat data points by exporter and outcome.");
  auto& requests = w.counter("sidelight.export.requests", "{request}",
                             "Export requests by exporter and outcome.");
  auto& retries = w.counter("sidelight.export.retries", "{retry}", "Export retries by exporter.");
  auto& upstream = w.gauge("sidelight.exporter.up", "1",
                           "1 while the exporter's last request succeeded, else 0.");
  for (const auto& slot : exporters_) {
    const auto& s = slot.lane->stats();
    const auto& name = slot.exporter->name();
    w.point(points, static_cast<std::int64_t>(s.points_exported),
            {{"exporter", name}, {"outcome", "exported"}});
    w.point(points, static_cast<std::int64_t>(s.points_rejected),
            {{"exporter", name}, {"outcome", "rejected"}});
    w.point(points, static_cast<std::int64_t>(s.points_superseded),
            {{"exporter", name}, {"outcome", "superseded"}});
    w.point(requests, static_cast<std::int64_t>(s.requests_ok),
            {{"exporter", name}, {"outcome", "ok"}});
    w.point(requests, static_cast<std::int64_t>(s.requests_failed),
            {{"exporter", name}, {"outcome", "failed"}});
    w.point(retries, static_cast<std::int64_t>(s.retries), {{"exporter", name}});
    w.point(upstream, s.upstream_ok ? 1 : 0, {{"exporter", name}});
  }
  auto& items = w.counter("sidelight.pipeline.items", "{item}",
                          "Client spans, log records and data points by exporter, signal and "
                          "outcome (received, exported, dropped with a reason).");
  auto& queued = w.gauge("sidelight.queue.size", "By", "Encoded bytes waiting in the queue.");
  auto& in_flight =
      w.gauge("sidelight.pipeline.in_flight", "{item}", "Client items sent and not yet answered.");
  for (const auto& slot : exporters_) {
    const auto& name = slot.exporter->name();
    for (const auto& lane : slot.lanes) {
      auto ls = lane->stats();
      std::string sig(exporting::to_string(lane->signal()));
      w.point(items, static_cast<std::int64_t>(ls.received_items),
              {{"exporter", name}, {"signal", sig}, {"outcome", "received"}});
      w.point(items, static_cast<std::int64_t>(ls.exported_items),
              {{"exporter", name}, {"signal", sig}, {"outcome", "exported"}});
      for (std::size_t r = 0; r < pipeline::kDropReasons; ++r) {
        w.point(
            items, static_cast<std::int64_t>(ls.dropped_items[r]),
            {{"exporter", name},
             {"signal", sig},
             {"outcome", "dropped"},
             {"reason", std::string(pipeline::to_string(static_cast<pipeline::drop_reason>(r)))}});
      }
      w.point(queued, static_cast<std::int64_t>(ls.queued_bytes),
              {{"exporter", name}, {"signal", sig}});
      w.point(in_flight, static_cast<std::int64_t>(ls.in_flight_items),
              {{"exporter", name}, {"signal", sig}});
    }
  }
  auto& intake_items =
      w.counter("sidelight.intake.items", "{item}", "Client items accepted by intake protocol.");
  auto& intake_bad = w.counter("sidelight.intake.bad_requests", "{request}",
                               "Requests (NDJSON: lines) refused as malformed.");
  for (auto p :
       {intake::protocol::otlp_grpc, intake::protocol::otlp_http, intake::protocol::ndjson}) {
    const auto& c = intake_counters_.of(p);
    std::string proto(intake::to_string(p));
    w.point(intake_items, static_cast<std::int64_t>(c.items.load()), {{"protocol", proto}});
    w.point(intake_bad, static_cast<std::int64_t>(c.bad_requests.load()), {{"protocol", proto}});
  }

  std::int64_t up = 0;
  std::int64_t down = 0;
  for (const auto& [fp, watcher] : watchers_) {
    watcher->for_each_instance([&](const watch::instance_report& r) { (r.up ? up : down)++; });
  }
  auto& targets = w.gauge("sidelight.targets", "{instance}", "Watched instances by state.");
  w.point(targets, up, {{"state", "up"}});
  w.point(targets, down, {{"state", "down"}});
  auto& reloads = w.counter("sidelight.config.reloads", "{reload}", "Configuration reloads.");
  w.point(reloads, static_cast<std::int64_t>(reloads_), {{"outcome", "applied"}});
  w.point(reloads, static_cast<std::int64_t>(reloads_refused_), {{"outcome", "refused"}});
}

}  // namespace sidelight::app
