// OTLP/gRPC intake: TraceService, LogsService and MetricsService on a Unix socket (and opt-in
// TCP). The Unix socket is bound and accepted here, not by gRPC, so each connection's peer
// process is known (SO_PEERCRED) before the connection is handed to gRPC. Requests arrive
// through gRPC's async generic API as bytes, one completion-queue thread serves every call, and
// nothing is decoded beyond what otlp_wire checks.
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>

#include "config/config.hpp"
#include "intake/admission.hpp"
#include "intake/connections.hpp"
#include "intake/intake.hpp"
#include "sys/unix_socket.hpp"

namespace sidelight::intake {

namespace asio = boost::asio;

class otlp_grpc_server {
 public:
  static std::variant<std::unique_ptr<otlp_grpc_server>, std::string> start(
      asio::io_context& io, const config::listener& settings, const intake_policy& policy,
      deliver_fn deliver, intake_counters& counters);
  ~otlp_grpc_server();

  // Stops accepting, fails calls still waiting, and joins the completion-queue thread; idempotent.
  void shutdown();
  std::string address() const;
  // intake.max_buffered_bytes (0: no limit), as the bound of what gRPC holds of requests.
  void set_buffer_limit(std::uint64_t bytes);

 private:
  class call;
  otlp_grpc_server(asio::io_context& io, const config::listener& settings,
                   const intake_policy& policy, deliver_fn deliver, intake_counters& counters);
  void accept();
  void serve();
  void request_call();
  peer_identity peer_of(const std::string& peer);
  void warn_bad(pid_t pid, const std::string& method, const std::string& error);

  config::listener settings_;
  protocol_counters& counters_;
  admission admission_;
  asio::local::stream_protocol::acceptor acceptor_;
  sys::socket_file socket_file_;  // removed at stop only while still ours
  grpc::AsyncGenericService service_;
  grpc::ResourceQuota quota_{"sidelight-otlp-grpc"};
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::thread worker_;
  std::mutex peers_mutex_;
  // Connections handed to gRPC, by descriptor. gRPC closes them without telling; the inode tells
  // whether a descriptor still is the socket accepted.
  struct peer {
    peer_identity identity;  // fixed at accept
    ino_t inode = 0;
    std::chrono::steady_clock::time_point last_call;
  };
  void make_room();
  std::unordered_map<int, peer> peers_;
  asio::steady_timer accept_retry_;
  client_warnings warnings_;
  int tcp_port_ = 0;
  bool stopped_ = false;
};

}  // namespace sidelight::intake
