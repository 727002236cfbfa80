#include "support/otlp_receiver.hpp"

#include <grpc/grpc.h>

#include <sstream>
#include <thread>

#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace sidelight::test {

namespace common = opentelemetry::proto::common::v1;
namespace metrics = opentelemetry::proto::metrics::v1;
namespace collector = opentelemetry::proto::collector::metrics::v1;

namespace {

std::string text_of(const common::AnyValue& v) {
  switch (v.value_case()) {
    case common::AnyValue::kStringValue:
      return v.string_value();
    case common::AnyValue::kIntValue:
      return std::to_string(v.int_value());
    case common::AnyValue::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case common::AnyValue::kDoubleValue:
      return std::to_string(v.double_value());
    default:
      return "<complex>";
  }
}

std::map<std::string, std::string> attributes_of(
    const google::protobuf::RepeatedPtrField<common::KeyValue>& kvs) {
  std::map<std::string, std::string> out;
  for (const auto& kv : kvs)
    out[kv.key()] = text_of(kv.value());
  return out;
}

void add_points(std::vector<point>& out, const point& base,
                const google::protobuf::RepeatedPtrField<metrics::NumberDataPoint>& dps) {
  for (const auto& dp : dps) {
    point p = base;
    p.value = dp.value_case() == metrics::NumberDataPoint::kAsInt ? static_cast<double>(dp.as_int())
                                                                  : dp.as_double();
    p.attributes = attributes_of(dp.attributes());
    p.time_unix_nano = dp.time_unix_nano();
    out.push_back(std::move(p));
  }
}

}  // namespace

std::string point::describe() const {
  std::ostringstream s;
  s << metric << "=" << value;
  for (const auto& [k, v] : attributes)
    s << " " << k << "=" << v;
  auto pid = resource.find("process.pid");
  if (pid != resource.end()) s << " [pid " << pid->second << "]";
  return s.str();
}

class otlp_receiver::service final : public collector::MetricsService::Service {
 public:
  explicit service(otlp_receiver& owner) : owner_(owner) {}
  grpc::Status Export(grpc::ServerContext* context,
                      const collector::ExportMetricsServiceRequest* req,
                      collector::ExportMetricsServiceResponse*) override {
    if (auto status = owner_.override_answer()) return *status;
    std::vector<point> batch;
    auto now = std::chrono::steady_clock::now();
    for (const auto& rm : req->resource_metrics()) {
      point base;
      base.resource = attributes_of(rm.resource().attributes());
      base.received = now;
      for (const auto& sm : rm.scope_metrics()) {
        for (const auto& m : sm.metrics()) {
          point p = base;
          p.metric = m.name();
          p.unit = m.unit();
          if (m.has_gauge()) {
            p.type = "gauge";
            add_points(batch, p, m.gauge().data_points());
          } else if (m.has_sum()) {
            p.type = "sum";
            p.monotonic = m.sum().is_monotonic();
            add_points(batch, p, m.sum().data_points());
          }
        }
      }
    }
    std::multimap<std::string, std::string> metadata;
    for (const auto& [k, v] : context->client_metadata())
      metadata.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    owner_.record(std::move(batch), std::move(metadata));
    return grpc::Status::OK;
  }

 private:
  otlp_receiver& owner_;
};

class otlp_receiver::trace_service final
    : public opentelemetry::proto::collector::trace::v1::TraceService::Service {
 public:
  explicit trace_service(otlp_receiver& owner) : owner_(owner) {}
  grpc::Status Export(
      grpc::ServerContext*,
      const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest* req,
      opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse*) override {
    if (auto status = owner_.override_answer()) return *status;
    std::vector<telemetry_record> batch;
    for (const auto& rs : req->resource_spans()) {
      auto resource = attributes_of(rs.resource().attributes());
      for (const auto& ss : rs.scope_spans())
        for (const auto& sp : ss.spans())
          batch.push_back({resource, sp.name(), sp.trace_id()});
    }
    return owner_.record_spans(std::move(batch));
  }

 private:
  otlp_receiver& owner_;
};

class otlp_receiver::logs_service final
    : public opentelemetry::proto::collector::logs::v1::LogsService::Service {
 public:
  explicit logs_service(otlp_receiver& owner) : owner_(owner) {}
  grpc::Status Export(
      grpc::ServerContext*,
      const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest* req,
      opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse*) override {
    if (auto status = owner_.override_answer()) return *status;
    std::vector<telemetry_record> batch;
    for (const auto& rl : req->resource_logs()) {
      auto resource = attributes_of(rl.resource().attributes());
      for (const auto& sl : rl.scope_logs())
        for (const auto& lr : sl.log_records())
          batch.push_back({resource, text_of(lr.body()), lr.trace_id(),
                           attributes_of(lr.attributes()), lr.event_name(),
                           static_cast<int>(lr.severity_number()), rl.schema_url()});
    }
    owner_.record_logs(std::move(batch));
    return grpc::Status::OK;
  }

 private:
  otlp_receiver& owner_;
};

otlp_receiver::otlp_receiver()
    : service_(std::make_unique<service>(*this)),
      trace_service_(std::make_unique<trace_service>(*this)),
      logs_service_(std::make_unique<logs_service>(*this)) {
  // gRPC shuts itself down when its last object goes, and that joins its executor's poller, which
  // may be asleep for up to 10 s on a timer of a channel already gone: a test ending with its
  // receiver took 10 s longer in about one run of four. Kept up from here to the process's end.
  [[maybe_unused]] static const bool grpc_kept_up = (grpc_init(), true);
  start();
}

otlp_receiver::~otlp_receiver() {
  stop();
}

void otlp_receiver::start() {
  grpc::ServerBuilder builder;
  std::string address = "127.0.0.1:" + std::to_string(port_);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(),
                           port_ == 0 ? &port_ : nullptr);
  builder.RegisterService(service_.get());
  builder.RegisterService(trace_service_.get());
  builder.RegisterService(logs_service_.get());
  server_ = builder.BuildAndStart();
  if (!server_) throw std::runtime_error("cannot start the test OTLP receiver on " + address);
}

void otlp_receiver::stop() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  server_.reset();
}

void otlp_receiver::record(std::vector<point> batch,
                           std::multimap<std::string, std::string> metadata) {
  std::lock_guard lock(mutex_);
  ++requests_;
  metadata_ = std::move(metadata);
  for (auto& p : batch)
    points_.push_back(std::move(p));
  changed_.notify_all();
}

std::optional<point> otlp_receiver::wait_for(const point_filter& f,
                                             std::chrono::milliseconds timeout) const {
  return wait_for_after(std::chrono::steady_clock::time_point::min(), f, timeout);
}

std::optional<point> otlp_receiver::wait_for_after(std::chrono::steady_clock::time_point since,
                                                   const point_filter& f,
                                                   std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  std::size_t scanned = 0;
  std::optional<point> found;
  changed_.wait_for(lock, timeout, [&] {
    for (; scanned < points_.size(); ++scanned) {
      const auto& p = points_[scanned];
      if (p.received >= since && f(p)) {
        found = p;
        return true;
      }
    }
    return false;
  });
  return found;
}

grpc::Status otlp_receiver::record_spans(std::vector<telemetry_record> batch) {
  std::unique_lock lock(mutex_);
  if (answer_after_.count() > 0) {
    // A slow upstream: each export takes this long, and the others go on meanwhile.
    auto delay = answer_after_;
    lock.unlock();
    std::this_thread::sleep_for(delay);
    lock.lock();
  }
  if (fail_with_ != grpc::StatusCode::OK) {
    refused_spans_ += batch.size();
    return grpc::Status(fail_with_, "told to fail by the test");
  }
  for (auto& r : batch)
    spans_.push_back(std::move(r));
  changed_.notify_all();
  return grpc::Status::OK;
}

void otlp_receiver::answer_after(std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  answer_after_ = delay;
}

void otlp_receiver::fail_with(grpc::StatusCode code) {
  std::lock_guard lock(mutex_);
  fail_with_ = code;
}

void otlp_receiver::answer_all_with(std::optional<grpc::Status> status) {
  std::lock_guard lock(mutex_);
  override_ = std::move(status);
}

std::optional<grpc::Status> otlp_receiver::override_answer() {
  std::lock_guard lock(mutex_);
  if (override_) {
    ++overridden_;
    changed_.notify_all();
  }
  return override_;
}

std::size_t otlp_receiver::overridden() const {
  std::lock_guard lock(mutex_);
  return overridden_;
}

std::size_t otlp_receiver::refused_spans() const {
  std::lock_guard lock(mutex_);
  return refused_spans_;
}

void otlp_receiver::record_logs(std::vector<telemetry_record> batch) {
  std::lock_guard lock(mutex_);
  for (auto& r : batch)
    logs_.push_back(std::move(r));
  changed_.notify_all();
}

bool otlp_receiver::wait_spans(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return spans_.size() >= count; });
}

std::optional<telemetry_record> otlp_receiver::wait_for_log(
    const std::function<bool(const telemetry_record&)>& f,
    std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  std::optional<telemetry_record> found;
  changed_.wait_for(lock, timeout, [&] {
    for (const auto& r : logs_)
      if (f(r)) {
        found = r;
        return true;
      }
    return false;
  });
  return found;
}

bool otlp_receiver::wait_logs(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return logs_.size() >= count; });
}

std::vector<telemetry_record> otlp_receiver::spans() const {
  std::lock_guard lock(mutex_);
  return spans_;
}

std::vector<telemetry_record> otlp_receiver::logs() const {
  std::lock_guard lock(mutex_);
  return logs_;
}

std::vector<point> otlp_receiver::points() const {
  std::lock_guard lock(mutex_);
  return points_;
}

std::size_t otlp_receiver::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::multimap<std::string, std::string> otlp_receiver::last_metadata() const {
  std::lock_guard lock(mutex_);
  return metadata_;
}

std::string otlp_receiver::dump(const std::string& svc) const {
  std::lock_guard lock(mutex_);
  std::ostringstream s;
  s << "points received for service '" << svc << "':\n";
  for (const auto& p : points_) {
    auto it = p.resource.find("service.name");
    if (it != p.resource.end() && it->second == svc &&
        (p.metric == "service.heartbeat" || p.metric == "service.restarts" ||
         p.metric == "service.instances")) {
      s << "  " << p.describe() << "\n";
    }
  }
  return s.str();
}

point_filter metric_of(std::string svc, std::string metric) {
  return [svc, metric](const point& p) {
    auto it = p.resource.find("service.name");
    return it != p.resource.end() && it->second == svc && p.metric == metric;
  };
}

point_filter heartbeat_of(std::string svc, int value) {
  auto base = metric_of(std::move(svc), "service.heartbeat");
  return [base, value](const point& p) {
    return base(p) && p.value == value && p.resource.count("service.instance.id");
  };
}

point_filter target_metric_of(std::string svc, std::string metric) {
  auto base = metric_of(std::move(svc), std::move(metric));
  return [base](const point& p) { return base(p) && !p.resource.count("service.instance.id"); };
}

point_filter target_heartbeat_of(std::string svc, int value) {
  auto base = target_metric_of(std::move(svc), "service.heartbeat");
  return [base, value](const point& p) { return base(p) && p.value == value; };
}

}  // namespace sidelight::test
