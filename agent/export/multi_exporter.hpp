// Several upstream endpoints behind one exporter, failed over or taken in turns. A request goes
// to one endpoint; when that one fails in a way worth retrying (refused, unreachable, 429/503,
// UNAVAILABLE...), the same request goes at once to the next, and the failed endpoint is skipped
// for `cooldown` (or its Retry-After, when longer) before it is tried again. Only when every
// endpoint failed does the pipeline see the failure and back off. A permanent refusal is final:
// another endpoint would refuse the same bytes.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "export/exporter.hpp"

namespace sidelight::exporting {

class multi_exporter final : public exporter {
 public:
  struct member {
    std::shared_ptr<exporter> upstream;
    std::string endpoint;  // as configured, for messages
  };

  multi_exporter(std::string name, std::vector<member> members,
                 config::otlp_exporter::balancing balance,
                 std::chrono::milliseconds cooldown = std::chrono::seconds(5));
  ~multi_exporter() override;

  const std::string& name() const override { return name_; }
  void send(signal s, codec::payload_ptr request, done_fn done) override;
  void shutdown() override;
  // Answered once every endpoint's exporter has answered.
  void probe(std::function<void()> answered) override;

 private:
  using clock = std::chrono::steady_clock;
  struct state {
    bool failing = false;
    bool probing = false;  // a request is finding out whether it is back
    clock::time_point retry_at{};
  };
  // The endpoints to try for the next request, in order: the ones not cooling down first (by
  // priority for failover, from the next in turn for round_robin), then the rest, soonest first.
  std::vector<std::size_t> plan();
  void attempt(signal s, codec::payload_ptr request, done_fn done, std::vector<std::size_t> order,
               std::size_t step);
  void mark(std::size_t i, const export_outcome& outcome);

  std::string name_;
  std::vector<member> members_;
  config::otlp_exporter::balancing balance_;
  std::chrono::milliseconds cooldown_;
  std::mutex mutex_;
  std::vector<state> states_;
  std::size_t turn_ = 0;
  std::atomic<bool> stopped_{false};  // no failing over once shutdown() began
};

}  // namespace sidelight::exporting
