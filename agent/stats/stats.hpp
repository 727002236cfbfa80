// The stats stage owns how sidelight describes its own numbers. Every counter and gauge is
// declared once, as a `metric` beside the component that keeps it (its OTLP name, unit, kind,
// help, and where it goes in the JSON status). Components report their values to a `sink` from a
// `visit(sink&)`, and each surface is a sink: the Prometheus text of /metrics, the JSON of
// /api/v1/status (and so `sidelight status`), and sidelight's OTLP self-metrics. A new counter is
// one declaration and one line in its component's visit.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace sidelight::stats {

enum class kind { counter, gauge, histogram };

// Where a metric is rendered. Target states are already sent over OTLP on each service's own
// Resource, so sidelight's self-metrics leave them out.
enum surface : unsigned { prometheus = 1u, json = 2u, otlp = 4u, all = 7u };

struct metric {
  std::string_view name;  // the OTLP name, e.g. "sidelight.pipeline.items"
  std::string_view unit;  // UCUM: "By", "s", "{item}"; empty for a plain number
  kind type = kind::counter;
  std::string_view help;
  // The key of its value in its section's JSON object. "{outcome}" is replaced by the value of
  // the label `outcome`; labels not used in the key nest below it, by value.
  std::string_view json;
  unsigned surfaces = all;
};

struct label {
  std::string_view key;
  std::string_view value;
};
using labels = std::initializer_list<label>;

struct histogram_value {
  std::span<const double> bounds;          // upper bounds; the last bucket (+Inf) has none
  std::span<const std::uint64_t> buckets;  // per bucket, not cumulative: bounds.size() + 1
  double sum = 0;
};

// Receives a component's numbers. Sections nest: a section opened inside another belongs to it
// (a target's instances), and its identity labels add to the enclosing ones.
class sink {
 public:
  virtual ~sink() = default;
  // A component begins: the JSON section it belongs to ("pipelines") and the labels naming it
  // (exporter, signal), which every value it reports carries.
  virtual void open(std::string_view section, labels identity) = 0;
  virtual void close() = 0;
  virtual void value(const metric& m, labels extra, double v) = 0;
  virtual void histogram(const metric& m, labels extra, const histogram_value& h) = 0;
  // A fact that is not a measurement (an address, the last error, a pid): in the JSON status only.
  virtual void fact(std::string_view key, std::string_view value) = 0;
  virtual void fact(std::string_view key, std::int64_t value) = 0;
};

// Something with numbers of its own to report.
class source {
 public:
  virtual ~source() = default;
  virtual void visit(sink& out) const = 0;
};

// The metric's Prometheus name by OpenTelemetry's Prometheus compatibility rule: characters
// other than [a-zA-Z0-9_:] become '_'; a unit in braces adds nothing, "1" adds "_ratio" to a
// gauge, others their word ("By" "_bytes", "s" "_seconds"), unless the name already ends so; a
// counter adds "_total".
std::string prometheus_name(const metric& m);

// A label key or section name as Prometheus takes it: the same character rule.
std::string prometheus_label(std::string_view key);

}  // namespace sidelight::stats
