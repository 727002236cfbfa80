#include "heartbeat/self_metrics.hpp"

#include <map>
#include <string>
#include <vector>

#include "heartbeat/metrics_builder.hpp"

namespace sidelight::heartbeat {

namespace {

namespace pb = opentelemetry::proto::metrics::v1;

class otlp_sink final : public stats::sink {
 public:
  otlp_sink(pb::ScopeMetrics& scope, std::int64_t start, std::int64_t now)
      : scope_(scope),
        start_(static_cast<std::uint64_t>(start)),
        now_(static_cast<std::uint64_t>(now)) {}

  void open(std::string_view, stats::labels identity) override {
    scopes_.push_back(scope_labels_.size());
    for (const auto& l : identity)
      scope_labels_.emplace_back(std::string(l.key), std::string(l.value));
  }
  void close() override {
    scope_labels_.resize(scopes_.back());
    scopes_.pop_back();
  }
  void value(const stats::metric& m, stats::labels extra, double v) override {
    if (!(m.surfaces & stats::otlp)) return;
    auto& metric = metric_of(m);
    auto* dp = m.type == stats::kind::counter ? metric.mutable_sum()->add_data_points()
                                              : metric.mutable_gauge()->add_data_points();
    if (m.type == stats::kind::counter) dp->set_start_time_unix_nano(start_);
    dp->set_time_unix_nano(now_);
    auto whole = static_cast<std::int64_t>(v);
    if (static_cast<double>(whole) == v) {
      dp->set_as_int(whole);
    } else {
      dp->set_as_double(v);
    }
    attributes(*dp->mutable_attributes(), extra);
  }
  void histogram(const stats::metric& m, stats::labels extra,
                 const stats::histogram_value& h) override {
    if (!(m.surfaces & stats::otlp)) return;
    auto* dp = metric_of(m).mutable_histogram()->add_data_points();
    dp->set_start_time_unix_nano(start_);
    dp->set_time_unix_nano(now_);
    std::uint64_t count = 0;
    for (auto b : h.buckets) {
      dp->add_bucket_counts(b);
      count += b;
    }
    for (auto bound : h.bounds)
      dp->add_explicit_bounds(bound);
    dp->set_count(count);
    dp->set_sum(h.sum);
    attributes(*dp->mutable_attributes(), extra);
  }
  void fact(std::string_view, std::string_view) override {}
  void fact(std::string_view, std::int64_t) override {}

 private:
  pb::Metric& metric_of(const stats::metric& m) {
    auto [it, added] = index_.try_emplace(std::string(m.name), nullptr);
    if (!added) return *it->second;
    auto* metric = scope_.add_metrics();
    metric->set_name(std::string(m.name));
    metric->set_unit(std::string(m.unit));
    metric->set_description(std::string(m.help));
    switch (m.type) {
      case stats::kind::counter:
        metric->mutable_sum()->set_is_monotonic(true);
        metric->mutable_sum()->set_aggregation_temporality(pb::AGGREGATION_TEMPORALITY_CUMULATIVE);
        break;
      case stats::kind::gauge:
        metric->mutable_gauge();
        break;
      case stats::kind::histogram:
        metric->mutable_histogram()->set_aggregation_temporality(
            pb::AGGREGATION_TEMPORALITY_CUMULATIVE);
        break;
    }
    it->second = metric;
    return *metric;
  }

  template <class Attributes>
  void attributes(Attributes& out, stats::labels extra) const {
    for (const auto& [k, v] : scope_labels_)
      set_attribute(out, k, v);
    for (const auto& l : extra)
      set_attribute(out, std::string(l.key), std::string(l.value));
  }

  pb::ScopeMetrics& scope_;
  std::uint64_t start_;
  std::uint64_t now_;
  std::vector<std::pair<std::string, std::string>> scope_labels_;
  std::vector<std::size_t> scopes_;
  std::map<std::string, pb::Metric*> index_;
};

}  // namespace

void add_self_metrics(const stats::source& source, pb::ScopeMetrics& scope,
                      std::int64_t start_unix_ns, std::int64_t now_unix_ns) {
  otlp_sink sink(scope, start_unix_ns, now_unix_ns);
  source.visit(sink);
}

}  // namespace sidelight::heartbeat
