#include "export/multi_exporter.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sidelight::exporting {

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
  for (std::size_t k = 0; k < n; ++k) {
    auto i = (start + k) % n;
    (states_[i].failing && states_[i].retry_at > now ? cooling : ready).push_back(i);
  }
  std::stable_sort(cooling.begin(), cooling.end(), [&](std::size_t a, std::size_t b) {
    return states_[a].retry_at < states_[b].retry_at;
  });
  ready.insert(ready.end(), cooling.begin(), cooling.end());
  return ready;
}

void multi_exporter::mark(std::size_t i, const export_outcome& outcome) {
  // A permanent refusal says nothing about whether the endpoint is up.
  if (outcome.result == export_outcome::kind::permanent) return;
  std::lock_guard lock(mutex_);
  auto& st = states_[i];
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

void multi_exporter::send(signal s, std::shared_ptr<const std::string> request, done_fn done) {
  attempt(s, std::move(request), std::move(done), plan(), 0);
}

void multi_exporter::attempt(signal s, std::shared_ptr<const std::string> request, done_fn done,
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
                     attempt(s, std::move(request), std::move(done), std::move(order), step + 1);
                     return;
                   }
                   if (outcome.result != export_outcome::kind::ok && members_.size() > 1) {
                     outcome.message = members_[i].endpoint + ": " + outcome.message;
                   }
                   done(std::move(outcome));
                 });
}

void multi_exporter::shutdown() {
  stopped_.store(true);
  for (auto& m : members_)
    m.upstream->shutdown();
}

}  // namespace sidelight::exporting
