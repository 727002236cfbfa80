// OTLP/gRPC to one upstream endpoint. Requests travel as the bytes they already are, through
// gRPC's generic stub: nothing is decoded or re-encoded on the way out. One completion-queue
// thread finishes every call.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "config/config.hpp"
#include "export/exporter.hpp"

namespace sidelight::exporting {

// How a finished gRPC call is classified (see docs/RELIABILITY.md): UNAVAILABLE, DEADLINE_EXCEEDED,
// ABORTED, OUT_OF_RANGE, DATA_LOSS and CANCELLED are retryable; RESOURCE_EXHAUSTED only when the
// server attached a google.rpc.RetryInfo; everything else is permanent.
export_outcome classify_grpc_status(grpc::StatusCode code, const std::string& message,
                                    const std::string& error_details);

// The channel target gRPC understands for an endpoint: "dns:///host:port" or "unix:/path".
std::string grpc_target(const config::endpoint& e);

class otlp_grpc_exporter final : public exporter {
 public:
  // Fails (returns an error text) only when the TLS files cannot be read.
  static std::variant<std::unique_ptr<otlp_grpc_exporter>, std::string> create(
      const config::otlp_exporter& cfg);

  ~otlp_grpc_exporter() override;

  const std::string& name() const override { return name_; }
  void send(signal s, codec::payload_ptr request, done_fn done) override;
  // Each piece goes to gRPC as a slice of its own: the request is never joined in memory.
  bool sends_parts() const override { return true; }
  void send_parts(signal s, std::vector<codec::payload_ptr> parts, done_fn done) override;
  void shutdown() override;
  // An alarm that fires at once on the completion queue: answered when drain() reaches it.
  void probe(std::function<void()> answered) override;

 private:
  struct call;
  struct probe_alarm;
  otlp_grpc_exporter(const config::otlp_exporter& cfg, std::shared_ptr<grpc::Channel> channel);
  void drain();
  void start(signal s, std::vector<codec::payload_ptr> parts, done_fn done);
  // While the channel connects or has failed, a watch on its state keeps this exporter's thread
  // polling the channel's sockets (gRPC's poll engine polls a channel only for a queue that has
  // something pending on it), so that a connection made is seen at once. `state` is the
  // channel's as last read. Called with the lock.
  void watch_channel(grpc_connectivity_state state);

  std::string name_;
  config::otlp_exporter cfg_;
  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
  grpc::CompletionQueue cq_;
  std::thread worker_;
  std::mutex mutex_;
  std::set<call*> in_flight_;
  std::set<void*> probes_;  // probe_alarm tags not yet drained
  char watch_tag_ = 0;      // its address: the tag of the channel state watch
  bool watching_ = false;
  bool stopped_ = false;
};

}  // namespace sidelight::exporting
