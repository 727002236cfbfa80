#include "heartbeat/heartbeat.hpp"

#include <unistd.h>

#include "agent_version.hpp"
#include "watch/proc.hpp"

namespace sidelight::heartbeat {

namespace {

// The wall-clock time of the next multiple of `interval`, as a steady-clock time point.
std::chrono::steady_clock::time_point next_aligned(config::duration interval) {
  auto now_ns = watch::now_unix_ns();
  auto step = interval.count();
  auto next = (now_ns / step + 1) * step;
  return std::chrono::steady_clock::now() + std::chrono::nanoseconds(next - now_ns);
}

}  // namespace

heartbeat_emitter::heartbeat_emitter(asio::io_context& io, std::string host_name, sink out)
    : io_(io), host_name_(std::move(host_name)), out_(std::move(out)) {
  // Uptime of sidelight itself, like any target's, comes from the kernel.
  auto self = watch::read_stat(::getpid());
  agent_start_ = self ? watch::ticks_to_unix_ns(self->start_ticks) : watch::now_unix_ns();
  self_instance_id_ = watch::make_instance_id(
      host_name_, "sidelight",
      self ? std::optional(self->identity()) : std::optional<watch::process_identity>());
}

void heartbeat_emitter::configure(std::shared_ptr<const config::config> cfg,
                                  std::vector<std::shared_ptr<watch::target_watcher>> watchers) {
  cfg_ = std::move(cfg);
  builder_ = std::make_unique<metrics_builder>(*cfg_, host_name_, agent_start_);
  watchers_ = std::move(watchers);
  targets_.clear();
  // A kept watcher may hold an older copy of its target; version, resource and interval come
  // from the new configuration.
  for (const auto& t : cfg_->targets)
    targets_[t.name] = &t;
  watcher_of_.clear();
  for (const auto& w : watchers_)
    watcher_of_[w->target().name] = w.get();

  std::map<config::duration, std::unique_ptr<asio::steady_timer>> keep;
  auto want = [&](config::duration d) {
    if (keep.count(d)) return;
    auto it = timers_.find(d);
    if (it != timers_.end()) {
      keep[d] = std::move(it->second);
      timers_.erase(it);
    } else {
      keep[d] = std::make_unique<asio::steady_timer>(io_);
      keep[d]->expires_at(std::chrono::steady_clock::time_point::min());
    }
  };
  want(cfg_->heartbeat.interval);
  for (const auto& t : cfg_->targets)
    want(cfg_->interval_of(t));
  for (auto& [d, timer] : timers_)
    timer->cancel();
  timers_ = std::move(keep);
  for (auto& [d, timer] : timers_) {
    if (timer->expiry() == std::chrono::steady_clock::time_point::min()) schedule(d);
  }
  emit_all();
}

void heartbeat_emitter::schedule(config::duration interval) {
  auto it = timers_.find(interval);
  if (it == timers_.end() || stopped_) return;
  auto& timer = *it->second;
  timer.expires_at(next_aligned(interval));
  timer.async_wait([weak = weak_from_this(), interval](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || self->stopped_) return;
    self->tick(interval);
    self->schedule(interval);
  });
}

void heartbeat_emitter::emit_watcher(const watch::target_watcher& w, std::int64_t now,
                                     std::optional<config::duration> only_interval) {
  auto it = targets_.find(w.target().name);
  if (it == targets_.end()) return;
  if (only_interval && cfg_->interval_of(*it->second) != *only_interval) return;
  w.for_each_instance([&](const watch::instance_report& r) { emit_instance(*it->second, r, now); });
  emit_target(*it->second, w, now);
}

void heartbeat_emitter::tick(config::duration interval) {
  auto now = watch::now_unix_ns();
  for (const auto& w : watchers_)
    emit_watcher(*w, now, interval);
  if (interval == cfg_->heartbeat.interval) emit_self(false);
}

void heartbeat_emitter::emit_all() {
  if (!cfg_) return;
  auto now = watch::now_unix_ns();
  for (const auto& w : watchers_)
    emit_watcher(*w, now, std::nullopt);
  emit_self(false);
}

void heartbeat_emitter::on_report(const watch::instance_report& r) {
  if (stopped_ || !cfg_) return;
  auto it = targets_.find(r.target);
  if (it == targets_.end()) return;
  auto now = watch::now_unix_ns();
  emit_instance(*it->second, r, now);
  // A change of an instance is a change of its target too (its count, maybe its status).
  if (auto w = watcher_of_.find(r.target); w != watcher_of_.end() && r.what != watch::change::none)
    emit_target(*it->second, *w->second, now);
}

void heartbeat_emitter::on_target_change(const watch::target_watcher& w) {
  if (stopped_ || !cfg_) return;
  auto it = targets_.find(w.target().name);
  if (it == targets_.end()) return;
  emit_target(*it->second, w, watch::now_unix_ns());
}

void heartbeat_emitter::emit_target(const config::target& t, const watch::target_watcher& w,
                                    std::int64_t now) {
  // Instance keys are "name/instance-id"; a target name never holds the unit separator.
  out_(t.name + "\x1ftarget", builder_->build_target(t, w.summary(now), now), false);
}

std::optional<otlp::resource::v1::Resource> heartbeat_emitter::resource_of(
    const watch::instance_report& r) const {
  auto it = targets_.find(r.target);
  if (it == targets_.end() || !builder_) return std::nullopt;
  return builder_->resource_of(*it->second, r);
}

otlp::resource::v1::Resource heartbeat_emitter::common_resource() const {
  otlp::resource::v1::Resource resource;
  if (builder_) builder_->add_common_resource(resource);
  return resource;
}

void heartbeat_emitter::emit_instance(const config::target& t, const watch::instance_report& r,
                                      std::int64_t now) {
  std::optional<process_usage> usage;
  if (r.up && r.process && t.process_metrics) usage = read_process_usage(r.process->identity());
  out_(t.name + "/" + r.instance_id, builder_->build(t, r, now, usage), r.final);
}

void heartbeat_emitter::emit_self(bool stopping) {
  if (!builder_) return;
  auto now = watch::now_unix_ns();
  otlp::metrics::v1::ResourceMetrics rm;
  auto& resource = *rm.mutable_resource();
  builder_->add_common_resource(resource);
  auto& attrs = *resource.mutable_attributes();
  set_attribute(attrs, "service.name", cfg_->self_service_name);
  set_attribute(attrs, "service.version", std::string(SIDELIGHT_VERSION));
  set_attribute(attrs, "service.instance.id", self_instance_id_);
  set_attribute(attrs, "process.pid", static_cast<std::int64_t>(::getpid()));
  set_attribute(attrs, "process.executable.name", std::string("sidelight"));

  auto& scope = add_scope(rm);
  auto& beat = add_gauge(scope, "service.heartbeat", "1",
                         "1 while the service is alive, 0 when it is down.", now);
  beat.set_as_int(stopping ? 0 : 1);
  set_attribute(*beat.mutable_attributes(), "service.status",
                std::string(stopping ? "down" : "running"));
  add_gauge(scope, "service.uptime_seconds", "s", "Seconds since the service's process started.",
            now)
      .set_as_double(stopping ? 0.0 : static_cast<double>(now - agent_start_) / 1e9);
  if (auto self = watch::read_stat(::getpid())) {
    if (auto usage = read_process_usage(self->identity())) {
      add_process_metrics(scope, *usage, agent_start_, now);
    }
  }
  if (self_metrics_) self_metrics_(scope, now);
  out_(cfg_->self_service_name + "/" + self_instance_id_, std::move(rm), false);
}

void heartbeat_emitter::emit_self_stopping() {
  emit_self(true);
}

void heartbeat_emitter::stop() {
  stopped_ = true;
  for (auto& [d, timer] : timers_)
    timer->cancel();
}

}  // namespace sidelight::heartbeat
