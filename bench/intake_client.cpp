// The bench's client: pre-serialized OTLP/gRPC requests, several in flight on one completion
// queue, retried the way OpenTelemetry SDKs retry (the OTLP exporter specification):
// RESOURCE_EXHAUSTED after the server's RetryInfo delay, UNAVAILABLE after a backoff.
#include <grpcpp/alarm.h>
#include <grpcpp/generic/generic_stub.h>

#include <algorithm>
#include <optional>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "intake_peers.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace sidelight::bench {

namespace otlp = opentelemetry::proto;
using namespace std::chrono_literals;

namespace {

// The RetryInfo delay in a grpc-status-details-bin trailer, if there is one.
std::optional<std::chrono::milliseconds> retry_info(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details()))
    return std::nullopt;
  for (const auto& any : details.details()) {
    google::rpc::RetryInfo info;
    if (any.UnpackTo(&info)) {
      return std::chrono::milliseconds(info.retry_delay().seconds() * 1000 +
                                       info.retry_delay().nanos() / 1'000'000);
    }
  }
  return std::nullopt;
}

const char* code_name(int code) {
  static const char* names[] = {"OK",
                                "CANCELLED",
                                "UNKNOWN",
                                "INVALID_ARGUMENT",
                                "DEADLINE_EXCEEDED",
                                "NOT_FOUND",
                                "ALREADY_EXISTS",
                                "PERMISSION_DENIED",
                                "RESOURCE_EXHAUSTED",
                                "FAILED_PRECONDITION",
                                "ABORTED",
                                "OUT_OF_RANGE",
                                "UNIMPLEMENTED",
                                "INTERNAL",
                                "UNAVAILABLE",
                                "DATA_LOSS",
                                "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? names[code] : "?";
}

// One request and its current attempt: a call on the wire, or waiting on its alarm to go again.
struct attempt {
  const std::string* bytes = nullptr;
  bool marked = false;
  int tries = 0;
  clock_type::time_point first{};
  bool waiting = false;  // the tag comes back from the alarm, not from a call
  grpc::Alarm alarm;
  grpc::ClientContext ctx;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> rpc;
};

class sender {
 public:
  sender(const std::shared_ptr<grpc::Channel>& channel, const client_plan& plan)
      : stub_(channel), plan_(plan) {}

  client_report run() {
    while (issued_ < plan_.total && issued_ < plan_.in_flight)
      issue_new();
    while (finished_ < plan_.total) {
      void* tag = nullptr;
      bool ok = false;
      if (!cq_.Next(&tag, &ok)) break;
      auto* a = static_cast<attempt*>(tag);
      if (a->waiting) {
        a->waiting = false;
        start(a);
      } else {
        answered(a, ok);
      }
    }
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
    }
    if (report_.non_retryable > 0) {
      fail(std::to_string(report_.non_retryable) +
           " calls were refused with a status no SDK retries; refused: " + report_.refused_text() +
           "; the first said: " + last_refusal_);
    }
    return report_;
  }

 private:
  void issue_new() {
    auto* a = new attempt;
    auto i = static_cast<std::size_t>(issued_++);
    a->marked = plan_.mark_now != nullptr && plan_.mark_now->load();
    const auto& set = a->marked ? *plan_.marked : *plan_.requests;
    a->bytes = &set[i % set.size()];
    a->first = clock_type::now();
    report_.spans_sent += static_cast<std::uint64_t>(plan_.spans);
    if (a->marked) report_.marked_sent += static_cast<std::uint64_t>(plan_.spans);
    start(a);
  }

  void start(attempt* a) {
    ++a->tries;
    grpc::Slice slice(a->bytes->data(), a->bytes->size());
    grpc::ByteBuffer request(&slice, 1);
    a->ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    a->rpc = stub_.PrepareUnaryCall(
        &a->ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", request, &cq_);
    a->rpc->StartCall();
    a->rpc->Finish(&a->response, &a->status, a);
  }

  void answered(attempt* a, bool ok) {
    auto code = ok ? a->status.error_code() : grpc::StatusCode::UNKNOWN;
    if (code == grpc::StatusCode::OK) {
      report_.spans_accepted += static_cast<std::uint64_t>(plan_.spans);
      if (a->marked) report_.marked_accepted += static_cast<std::uint64_t>(plan_.spans);
      ++accepted_;
      if (plan_.on_answered) plan_.on_answered(accepted_);
      return finish(a);
    }
    ++report_.refused[code];
    bool retryable =
        code == grpc::StatusCode::RESOURCE_EXHAUSTED || code == grpc::StatusCode::UNAVAILABLE;
    if (!retryable) {
      if (report_.non_retryable++ == 0) last_refusal_ = a->status.error_message();
      ++report_.given_up;
      return finish(a);
    }
    if (clock_type::now() - a->first > plan_.give_up) {
      fail("a request was still refused " + std::to_string(plan_.give_up.count()) +
           " s after it was first sent (" + std::to_string(a->tries) + " tries)");
      ++report_.given_up;
      return finish(a);
    }
    retry_later(a, code);
  }

  // A fresh context for the next try (a ClientContext serves one call), after the delay.
  void retry_later(attempt* a, grpc::StatusCode code) {
    auto hint = code == grpc::StatusCode::RESOURCE_EXHAUSTED ? retry_info(a->status) : std::nullopt;
    auto backoff =
        std::min<std::chrono::milliseconds>(100ms * (1 << std::min(a->tries - 1, 5)), 2s);
    auto* next = new attempt;
    next->bytes = a->bytes;
    next->marked = a->marked;
    next->tries = a->tries;
    next->first = a->first;
    next->waiting = true;
    delete a;
    next->alarm.Set(&cq_, std::chrono::system_clock::now() + hint.value_or(backoff), next);
  }

  void finish(attempt* a) {
    delete a;
    ++finished_;
    if (issued_ < plan_.total) issue_new();
  }

  grpc::GenericStub stub_;
  grpc::CompletionQueue cq_;
  const client_plan& plan_;
  client_report report_;
  int issued_ = 0;
  int finished_ = 0;
  int accepted_ = 0;
  std::string last_refusal_;
};

}  // namespace

std::uint64_t client_report::refusals() const {
  std::uint64_t n = 0;
  for (const auto& [code, count] : refused)
    n += count;
  return n;
}

void client_report::add(const client_report& other) {
  spans_sent += other.spans_sent;
  spans_accepted += other.spans_accepted;
  marked_sent += other.marked_sent;
  marked_accepted += other.marked_accepted;
  given_up += other.given_up;
  for (const auto& [code, count] : other.refused)
    refused[code] += count;
  non_retryable += other.non_retryable;
}

std::string client_report::refused_text() const {
  std::string out = std::to_string(refusals());
  if (refused.empty()) return out;
  out += " (";
  bool first = true;
  for (const auto& [code, count] : refused) {
    out += (first ? "" : ", ") + std::string(code_name(code)) + " " + std::to_string(count);
    first = false;
  }
  return out + ")";
}

client_plan plan_for(const std::vector<std::string>& requests, int spans, int total,
                     int in_flight) {
  client_plan p;
  p.requests = &requests;
  p.spans = spans;
  p.total = total;
  p.in_flight = in_flight;
  return p;
}

std::shared_ptr<grpc::Channel> channel_to(const std::string& target, bool gzip) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  if (gzip) args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

client_report send(const std::shared_ptr<grpc::Channel>& channel, const client_plan& plan) {
  return sender(channel, plan).run();
}

std::string make_request(int spans, int seed, const std::string& phase) {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("bench-client");
  if (!phase.empty()) {
    auto* p = rs->mutable_resource()->add_attributes();
    p->set_key("bench.phase");
    p->mutable_value()->set_string_value(phase);
  }
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("bench");
  for (int i = 0; i < spans; ++i) {
    auto* s = ss->add_spans();
    s->set_name("GET /api/v1/orders/{id}");
    std::string tid(16, '\0');
    for (int b = 0; b < 16; ++b)
      tid[b] = static_cast<char>((seed * 131 + i * 7 + b) & 0xff);
    s->set_trace_id(tid);
    s->set_span_id(tid.substr(0, 8));
    s->set_parent_span_id(tid.substr(8, 8));
    s->set_kind(otlp::trace::v1::Span::SPAN_KIND_SERVER);
    s->set_start_time_unix_nano(1700000000000000000ull + static_cast<std::uint64_t>(i));
    s->set_end_time_unix_nano(1700000000001000000ull + static_cast<std::uint64_t>(i));
    for (auto [k, v] : {std::pair{"http.request.method", "GET"},
                        {"url.path", "/api/v1/orders/12345"},
                        {"http.route", "/api/v1/orders/{id}"},
                        {"server.address", "orders.internal.example.com"},
                        {"user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"}}) {
      auto* a = s->add_attributes();
      a->set_key(k);
      a->mutable_value()->set_string_value(v);
    }
    auto* code = s->add_attributes();
    code->set_key("http.response.status_code");
    code->mutable_value()->set_int_value(200);
    s->mutable_status()->set_code(otlp::trace::v1::Status::STATUS_CODE_OK);
  }
  return req.SerializeAsString();
}

}  // namespace sidelight::bench
