#include "export/multi_exporter.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace sidelight::exporting {

namespace {

// The answer for a request that goes on to the next endpoint: its latency is that of every
// endpoint tried, one after the other.
exporter::done_fn adding_latency(exporter::done_fn done, std::chrono::nanoseconds spent) {
  return [done = std::move(done), spent](export_outcome outcome) {
    outcome.latency += spent;
    done(std::move(outcome));
  };
}

}  // namespace

multi_exporter::multi_exporter(std::string name, std::vector<member> members,
                               config::otlp_exporter::balancing balance,
                               std::chrono::milliseconds cooldown)
    : name_(std::move(name)),
      members_(std::move(members)),
      balance_(balance),
      cooldown_(cooldown),
      states_(members_.size()) {}

multi_exporter::~multi_exporter() {
  shutdown();
}

std::vector<std::size_t> multi_exporter::plan() {
  std::lock_guard lock(mutex_);
  auto now = clock::now();
  std::size_t n = members_.size();
  std::size_t start = 0;
  if (balance_ == config::otlp_exporter::balancing::round_robin) start = turn_++ % n;
  std::vector<std::size_t> ready;
  std::vector<std::size_t> cooling;
  std::optional<std::size_t> probe;
  bool round_robin = balance_ == config::otlp_exporter::balancing::round_robin;
  for (std::size_t k = 0; k < n; ++k) {
    auto i = (start + k) % n;
    const auto& st = states_[i];
    if (!st.failing) {
      ready.push_back(i);
    } else if (st.retry_at <= now && !st.probing && !probe && (round_robin || ready.empty())) {
      // Its time aside is over: this one request finds out whether it is back, while the
      // others go on to the endpoints that work (an endpoint that swallows requests would
      // otherwise cost every request in flight its timeout). Failover probes only an endpoint
      // it would rather use than the ones working.
      probe = i;
    } else {
      cooling.push_back(i);
    }
  }
  std::stable_sort(cooling.begin(), cooling.end(), [&](std::size_t a, std::size_t b) {
    return states_[a].retry_at < states_[b].retry_at;
  });
  std::vector<std::size_t> order;
  if (probe) {
    states_[*probe].probing = true;
    order.push_back(*probe);
  }
  order.insert(order.end(), ready.begin(), ready.end());
  order.insert(order.end(), cooling.begin(), cooling.end());
  return order;
}

void multi_exporter::mark(std::size_t i, const export_outcome& outcome) {
  std::lock_guard lock(mutex_);
  auto& st = states_[i];
  st.probing = false;
  // A permanent refusal says nothing about whether the endpoint is up.
  if (outcome.result == export_outcome::kind::permanent) return;
  bool failed = outcome.result == export_outcome::kind::retryable;
  if (failed) {
    auto wait = std::max<std::chrono::milliseconds>(
        cooldown_, outcome.retry_after.value_or(std::chrono::milliseconds(0)));
    st.retry_at = clock::now() + wait;
    if (!st.failing && members_.size() > 1) {
      spdlog::warn("exporter {}: endpoint {} failed ({}); using the others for {} ms", name_,
                   members_[i].endpoint, outcome.message, wait.count());
    }
  } else if (st.failing) {
    spdlog::info("exporter {}: endpoint {} works again", name_, members_[i].endpoint);
  }
  st.failing = failed;
}

void multi_exporter::send(signal s, codec::payload_ptr request, done_fn done) {
  attempt(s, std::move(request), std::move(done), plan(), 0);
}

void multi_exporter::attempt(signal s, codec::payload_ptr request, done_fn done,
                             std::vector<std::size_t> order, std::size_t step) {
  auto i = order[step];
  auto& upstream = members_[i].upstream;
  upstream->send(s, request,
                 [this, s, request, done = std::move(done), order = std::move(order), step,
                  i](export_outcome outcome) mutable {
                   bool stopped = stopped_.load();
                   if (!stopped) mark(i, outcome);
                   if (outcome.result == export_outcome::kind::retryable && !stopped &&
                       step + 1 < order.size()) {
                     // Counted once, by the pipeline, whichever endpoint takes it.
                     attempt(s, std::move(request),
                             adding_latency(std::move(done), outcome.latency), std::move(order),
                             step + 1);
                     return;
                   }
                   if (outcome.result != export_outcome::kind::ok && members_.size() > 1) {
                     outcome.message = members_[i].endpoint + ": " + outcome.message;
                   }
                   done(std::move(outcome));
                 });
}

void multi_exporter::probe(std::function<void()> answered) {
  if (members_.empty()) return answered();
  auto left = std::make_shared<std::atomic<std::size_t>>(members_.size());
  auto done = std::make_shared<std::function<void()>>(std::move(answered));
  for (auto& m : members_) {
    m.upstream->probe([left, done] {
      if (left->fetch_sub(1) == 1) (*done)();
    });
  }
}

void multi_exporter::shutdown() {
  stopped_.store(true);
  for (auto& m : members_)
    m.upstream->shutdown();
}

}  // namespace sidelight::exporting
