#include "export/otlp_grpc_exporter.hpp"

#include <grpcpp/alarm.h>
#include <grpcpp/generic/generic_stub.h>
#include <pthread.h>

#include <algorithm>
#include <sstream>

#include "agent_version.hpp"
#include "codec/utf8.hpp"
#include "export/tls_files.hpp"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace sidelight::exporting {
namespace {

using namespace std::chrono_literals;
constexpr auto kWatchFor = 250ms;

const std::string& method_of(signal s) {
  static const std::string traces = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
  static const std::string metrics =
      "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
  static const std::string logs = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
  switch (s) {
    case signal::traces:
      return traces;
    case signal::metrics:
      return metrics;
    case signal::logs:
      return logs;
  }
  return metrics;
}

std::string byte_buffer_to_string(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

}  // namespace

export_outcome classify_grpc_status(grpc::StatusCode code, const std::string& message,
                                    const std::string& error_details) {
  export_outcome out;
  if (code == grpc::StatusCode::OK) return out;
  out.message =
      "gRPC " + std::to_string(static_cast<int>(code)) + ": " + codec::printable_utf8(message);

  std::optional<std::chrono::milliseconds> retry_after;
  google::rpc::Status status;
  if (!error_details.empty() && status.ParseFromString(error_details)) {
    for (const auto& detail : status.details()) {
      google::rpc::RetryInfo info;
      if (detail.Is<google::rpc::RetryInfo>() && detail.UnpackTo(&info)) {
        // Bounded before it is multiplied: 10^12 s (or a negative delay) is the peer's to send.
        constexpr std::int64_t kDay = 24 * 3600;
        auto seconds = std::clamp<std::int64_t>(info.retry_delay().seconds(), 0, kDay);
        auto nanos = std::clamp<std::int64_t>(info.retry_delay().nanos(), 0, 999'999'999);
        retry_after = std::chrono::milliseconds(seconds * 1000 + nanos / 1'000'000);
      }
    }
  }
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::CANCELLED:
      out.result = export_outcome::kind::retryable;
      out.retry_after = retry_after;
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      out.result = retry_after ? export_outcome::kind::retryable : export_outcome::kind::permanent;
      out.retry_after = retry_after;
      break;
    default:
      out.result = export_outcome::kind::permanent;
      break;
  }
  return out;
}

std::string grpc_target(const config::endpoint& e) {
  if (e.kind == config::endpoint::scheme::unix_path) return "unix:" + e.path;
  std::string host = e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host;
  return "dns:///" + host + ":" + std::to_string(e.port);
}

struct otlp_grpc_exporter::call {
  signal what{};
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
  std::vector<codec::payload_ptr> parts;  // the request's pieces, kept alive while gRPC reads them
  done_fn done;
  std::chrono::steady_clock::time_point started;
};

struct otlp_grpc_exporter::probe_alarm {
  grpc::Alarm alarm;
  std::function<void()> answered;
};

std::variant<std::unique_ptr<otlp_grpc_exporter>, std::string> otlp_grpc_exporter::create(
    const config::otlp_exporter& cfg) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (cfg.use_tls()) {
    auto files = read_tls_files(cfg.tls);
    if (auto* err = std::get_if<std::string>(&files)) return *err;
    auto& pem = std::get<tls_files>(files);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = std::move(pem.ca);
    ssl.pem_cert_chain = std::move(pem.cert_chain);
    ssl.pem_private_key = std::move(pem.private_key);
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetUserAgentPrefix("sidelight/" SIDELIGHT_VERSION);
  // Our own retry decides what to resend; gRPC must not retry behind our back.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // Reconnect soon after an outage ends instead of backing off for minutes: a probe that finds
  // the channel between two attempts fails at once, so the attempts' spacing is how late an
  // upstream that is back can be found (a connect a second to a dead upstream costs little).
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays unset: gRPC takes it as the time a connection may
  // take to be made (20 s by default), and a short one fails every upstream far enough away.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(4 << 20);
  if (cfg.keepalive_time.count() > 0) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(cfg.keepalive_time.count() / 1000000));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                static_cast<int>(cfg.keepalive_timeout.count() / 1000000));
  }
  if (!cfg.tls.server_name.empty()) {
    args.SetSslTargetNameOverride(cfg.tls.server_name);
  }
  auto channel = grpc::CreateCustomChannel(grpc_target(cfg.target), creds, args);
  return std::unique_ptr<otlp_grpc_exporter>(new otlp_grpc_exporter(cfg, std::move(channel)));
}

otlp_grpc_exporter::otlp_grpc_exporter(const config::otlp_exporter& cfg,
                                       std::shared_ptr<grpc::Channel> channel)
    : name_(cfg.name), cfg_(cfg), channel_(std::move(channel)), stub_(channel_) {
  worker_ = std::thread([this] { drain(); });
  ::pthread_setname_np(worker_.native_handle(), "sl-grpc-export");
}

otlp_grpc_exporter::~otlp_grpc_exporter() {
  shutdown();
}

void otlp_grpc_exporter::send(signal s, codec::payload_ptr request, done_fn done) {
  std::vector<codec::payload_ptr> parts;
  parts.push_back(std::move(request));
  start(s, std::move(parts), std::move(done));
}

void otlp_grpc_exporter::send_parts(signal s, std::vector<codec::payload_ptr> parts, done_fn done) {
  start(s, std::move(parts), std::move(done));
}

void otlp_grpc_exporter::start(signal s, std::vector<codec::payload_ptr> parts, done_fn done) {
  auto* c = new call;
  c->what = s;
  c->done = std::move(done);
  c->parts = std::move(parts);
  c->started = std::chrono::steady_clock::now();
  c->context.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::microseconds>(cfg_.timeout));
  for (const auto& [key, value] : cfg_.headers) {
    std::string lower = key;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    c->context.AddMetadata(lower, value);
  }
  if (cfg_.codec == config::otlp_exporter::compression::gzip) {
    c->context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  }
  // The slices point into the shared pieces; the call keeps them alive.
  std::vector<grpc::Slice> slices;
  slices.reserve(c->parts.size());
  for (const auto& part : c->parts)
    slices.emplace_back(const_cast<char*>(part->data()), part->size(), grpc::Slice::STATIC_SLICE);
  grpc::ByteBuffer buffer(slices.data(), slices.size());

  std::unique_lock lock(mutex_);
  if (stopped_) {
    lock.unlock();
    auto fn = std::move(c->done);
    delete c;
    export_outcome out;
    out.result = export_outcome::kind::retryable;
    out.message = "exporter stopped";
    fn(out);
    return;
  }
  in_flight_.insert(c);
  // A request while the channel is failing is a lane's probe (at most one each 250 ms while its
  // queue drops, less often otherwise): connect again now rather than after gRPC's own backoff,
  // so that the next probe finds the connection made if the upstream is back.
  auto state = channel_->GetState(false);
  if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
    grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
  }
  watch_channel(state);
  c->reader = stub_.PrepareUnaryCall(&c->context, method_of(s), buffer, &cq_);
  c->reader->StartCall();
  c->reader->Finish(&c->response, &c->status, c);
}

void otlp_grpc_exporter::drain() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
    std::unique_lock lock(mutex_);
    if (tag == &watch_tag_) {
      watching_ = false;
      watch_channel(channel_->GetState(false));
      continue;
    }
    if (probes_.erase(tag) > 0) {
      lock.unlock();
      std::unique_ptr<probe_alarm>(static_cast<probe_alarm*>(tag))->answered();
      continue;
    }
    std::unique_ptr<call> c(static_cast<call*>(tag));
    in_flight_.erase(c.get());
    lock.unlock();
    export_outcome out;
    if (!ok) {
      out.result = export_outcome::kind::retryable;
      out.message = "call did not complete";
    } else if (c->status.ok()) {
      read_partial_success(c->what, byte_buffer_to_string(c->response), out);
    } else {
      out = classify_grpc_status(c->status.error_code(), c->status.error_message(),
                                 c->status.error_details());
    }
    limit_retry_after(out, cfg_.retry.max_interval);
    if (out.result != export_outcome::kind::ok) {
      lock.lock();
      watch_channel(channel_->GetState(false));
      lock.unlock();
    }
    out.latency = std::chrono::steady_clock::now() - c->started;
    if (c->done) c->done(std::move(out));
  }
}

void otlp_grpc_exporter::watch_channel(grpc_connectivity_state state) {
  if (stopped_ || watching_) return;
  if (state != GRPC_CHANNEL_CONNECTING && state != GRPC_CHANNEL_TRANSIENT_FAILURE) return;
  watching_ = true;
  // A short deadline: a shutdown waits for the watch, and it is renewed while the state lasts.
  channel_->NotifyOnStateChange(state, std::chrono::system_clock::now() + kWatchFor, &cq_,
                                &watch_tag_);
}

void otlp_grpc_exporter::probe(std::function<void()> answered) {
  std::unique_lock lock(mutex_);
  if (stopped_) {
    lock.unlock();
    answered();
    return;
  }
  auto* p = new probe_alarm{{}, std::move(answered)};
  probes_.insert(p);
  p->alarm.Set(&cq_, gpr_now(GPR_CLOCK_MONOTONIC), p);
}

void otlp_grpc_exporter::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (auto* c : in_flight_)
      c->context.TryCancel();
  }
  cq_.Shutdown();
  if (worker_.joinable()) worker_.join();
}

}  // namespace sidelight::exporting
