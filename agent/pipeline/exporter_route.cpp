#include "pipeline/exporter_route.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "pipeline/lane_store.hpp"
#include "pipeline/spool.hpp"

namespace sidelight::pipeline {

namespace {

constexpr codec::signal kSignals[] = {codec::signal::traces, codec::signal::metrics,
                                      codec::signal::logs};

lane_settings lane_settings_of(const config::config& cfg, const config::retry_settings& retry,
                               const std::shared_ptr<memory_budget>& budget,
                               const std::shared_ptr<pressure>& pushed) {
  lane_settings ls;
  ls.queue_max_bytes = cfg.queue.max_bytes;
  ls.queue_max_items = cfg.queue.max_items;
  ls.batch_max_items = cfg.batch.max_items;
  ls.batch_max_bytes = cfg.batch.max_bytes;
  ls.batch_timeout = cfg.batch.timeout;
  ls.retry = retry;
  ls.budget = budget;
  ls.when_full = cfg.queue.full;
  ls.intake_pressure = pushed;
  return ls;
}

// With a spool, the spool holds the payloads: its budget bounds the lane, and no memory is held
// for them. What memory the lane does hold, an entry for each chunk, stays within
// queue.max_bytes.
void spool_into(lane_settings& ls, std::shared_ptr<spool> s, const config::config& cfg,
                const config::spool_settings& spool_cfg) {
  ls.store = spool_store(std::move(s));
  ls.budget = nullptr;
  ls.queue_max_bytes = spool_cfg.max_bytes;
  ls.queue_max_chunks = std::max<std::uint64_t>(1, cfg.queue.max_bytes / kSpooledChunkMemory);
}

// The spool of one signal: a directory per exporter and signal.
std::variant<std::shared_ptr<spool>, std::string> open_spool(const std::string& exporter,
                                                             const config::spool_settings& cfg,
                                                             codec::signal s) {
  std::string name = exporter;
  std::replace(name.begin(), name.end(), '/', '_');
  spool::options o;
  o.dir = cfg.dir + "/" + name + "/" + std::string(codec::to_string(s));
  o.fsync = cfg.fsync;
  std::string error;
  auto opened = spool::open(o, error);
  if (!opened) return "exporter " + exporter + ": spool: " + error;
  return opened;
}

}  // namespace

exporter_route::exporter_route(options o)
    : exporter_(std::move(o.exporter)), shown_(std::move(o.shown)) {}

exporter_route::~exporter_route() {
  stop();
}

std::variant<std::shared_ptr<exporter_route>, std::string> exporter_route::open(
    asio::io_context& io, const config::config& cfg, options o) {
  auto ls = lane_settings_of(cfg, o.retry, o.budget, o.intake_pressure);
  const auto* spool_cfg = o.spool != nullptr && !o.spool->dir.empty() ? o.spool : nullptr;
  std::shared_ptr<exporter_route> r(new exporter_route(o));
  r->heartbeats_ = std::make_shared<liveness_lane>(io, r->exporter_, o.retry, cfg.batch.max_bytes);
  for (auto s : kSignals) {
    auto settings = ls;
    if (spool_cfg) {
      auto opened = open_spool(r->name(), *spool_cfg, s);
      if (auto* err = std::get_if<std::string>(&opened)) return *err;
      spool_into(settings, std::move(std::get<0>(opened)), cfg, *spool_cfg);
    }
    r->lanes_[static_cast<std::size_t>(s)] =
        std::make_shared<signal_lane>(io, r->exporter_, s, std::move(settings));
  }
  return r;
}

void exporter_route::offer(const std::string& key,
                           opentelemetry::proto::metrics::v1::ResourceMetrics rm, bool gone) {
  heartbeats_->offer(key, std::move(rm), gone);
}

void exporter_route::offer(codec::signal s, chunk c) {
  lanes_[static_cast<std::size_t>(s)]->offer(std::move(c));
}

void exporter_route::recover() {
  for (auto& l : lanes_)
    l->recover();
}

void exporter_route::flush(std::chrono::steady_clock::time_point deadline, const std::string& why,
                           std::function<void()> done) {
  auto pending = std::make_shared<std::size_t>(1 + lanes_.size());
  auto one_done = [pending, done = std::move(done)] {
    if (--*pending == 0) done();
  };
  heartbeats_->flush(deadline, [one_done, why, lane = heartbeats_](std::size_t left) {
    if (left > 0) {
      spdlog::warn("exporter {}: {} instance state(s) could not be sent {} ({})",
                   lane->exporter_name(), left, why, lane->stats().last_error);
    }
    one_done();
  });
  for (auto& l : lanes_) {
    l->flush(deadline, [one_done, why, l](std::uint64_t left) {
      if (left > 0) {
        spdlog::warn("exporter {}: {} {} item(s) not confirmed delivered {} ({})",
                     l->exporter_name(), left, codec::to_string(l->signal()), why,
                     l->stats().last_error);
      }
      one_done();
    });
  }
}

void exporter_route::stop() {
  if (stopped_) return;
  stopped_ = true;
  heartbeats_->stop();
  for (auto& l : lanes_)
    l->stop();
  exporter_->shutdown();
}

void exporter_route::visit(stats::sink& out) const {
  heartbeats_->visit(out, shown_, heartbeats_before());
  for (std::size_t i = 0; i < lanes_.size(); ++i)
    lanes_[i]->visit(out, before(i));
}

signal_lane_stats exporter_route::before(std::size_t lane) const {
  auto total = carried_[lane];
  if (predecessor_) {
    total.add(predecessor_->lanes_[lane]->stats());
    total.add(predecessor_->before(lane));
  }
  return total;
}

lane_stats exporter_route::heartbeats_before() const {
  auto total = carried_heartbeats_;
  if (predecessor_) {
    total.add(predecessor_->heartbeats_->stats());
    total.add(predecessor_->heartbeats_before());
  }
  return total;
}

void exporter_route::take_over(std::shared_ptr<const exporter_route> old) {
  predecessor_ = std::move(old);
}

void exporter_route::settle(const exporter_route* old) {
  if (predecessor_.get() != old) return;
  for (std::size_t i = 0; i < lanes_.size(); ++i)
    carried_[i] = before(i);
  carried_heartbeats_ = heartbeats_before();
  predecessor_.reset();
}

void exporter_route::not_ready(std::vector<std::string>& out) const {
  const auto& st = heartbeats_->stats();
  if (!st.upstream_ok) out.push_back("exporter " + name() + ": upstream failing: " + st.last_error);
  if (st.refusing) {
    out.push_back("exporter " + name() + ": upstream refuses heartbeats: " + st.last_error);
  }
  for (const auto& l : lanes_) {
    auto ls = l->stats();
    if (!ls.upstream_ok) {
      out.push_back("exporter " + name() + " (" + std::string(codec::to_string(l->signal())) +
                    "): upstream failing: " + ls.last_error);
    }
  }
}

}  // namespace sidelight::pipeline
