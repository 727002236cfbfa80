#include "intake/otlp_grpc_server.hpp"

#include <fcntl.h>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "intake/otlp_wire.hpp"
#include "intake/socket_setup.hpp"
#include "log/fields.hpp"

namespace sidelight::intake {

namespace {

using namespace std::chrono_literals;

// Calls requested ahead, so that this many can start without waiting for the thread.
constexpr int kCallsAhead = 16;

std::optional<codec::signal> signal_of(const std::string& method) {
  if (method == "/opentelemetry.proto.collector.trace.v1.TraceService/Export") {
    return codec::signal::traces;
  }
  if (method == "/opentelemetry.proto.collector.logs.v1.LogsService/Export") {
    return codec::signal::logs;
  }
  if (method == "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export") {
    return codec::signal::metrics;
  }
  return std::nullopt;
}

// The verdict as a gRPC status. A refusal worth retrying is RESOURCE_EXHAUSTED with a
// google.rpc.RetryInfo: OTLP clients retry it after the delay.
grpc::Status status_of(const admit_result& r) {
  switch (r.what) {
    case verdict::accepted:
      return grpc::Status::OK;
    case verdict::malformed:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, r.error);
    case verdict::too_large:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, r.error);
    case verdict::over_limit:
    case verdict::throttled:
      break;
  }
  google::rpc::Status st;
  st.set_code(grpc::StatusCode::RESOURCE_EXHAUSTED);
  st.set_message(r.error);
  google::rpc::RetryInfo retry;
  auto ms = r.retry_after.count();
  retry.mutable_retry_delay()->set_seconds(ms / 1000);
  retry.mutable_retry_delay()->set_nanos(static_cast<std::int32_t>(ms % 1000 * 1'000'000));
  st.add_details()->PackFrom(retry);
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, st.message(), st.SerializeAsString());
}

}  // namespace

// One call's life: requested, read one message, answer, done.
class otlp_grpc_server::call {
 public:
  explicit call(otlp_grpc_server& server) : server_(server), stream_(&ctx_) {
    server_.service_.RequestCall(&ctx_, &stream_, server_.cq_.get(), server_.cq_.get(), this);
  }

  void proceed(bool ok) {
    switch (step_) {
      case step::requested:
        if (!ok) {  // the server is shutting down
          delete this;
          return;
        }
        new call(server_);
        signal_ = signal_of(ctx_.method());
        if (!signal_) {
          finish(
              grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                           "sidelight serves the OTLP Export methods only, not " + ctx_.method()));
          return;
        }
        step_ = step::reading;
        stream_.Read(&request_, this);
        return;
      case step::reading:
        if (!ok) {
          finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"));
          return;
        }
        answer();
        return;
      case step::finishing:
        delete this;
        return;
    }
  }

 private:
  enum class step { requested, reading, finishing };

  void finish(const grpc::Status& status) {
    step_ = step::finishing;
    stream_.Finish(status, this);
  }

  // The request's bytes: its one slice as it is, or several joined into `joined`.
  std::string_view request_bytes(codec::payload& joined) {
    std::vector<grpc::Slice> slices;
    request_.Dump(&slices);
    if (slices.size() == 1) {
      return {reinterpret_cast<const char*>(slices[0].begin()), slices[0].size()};
    }
    std::size_t size = 0;
    for (const auto& s : slices)
      size += s.size();
    joined.reserve(size);
    for (const auto& s : slices)
      joined.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return joined;
  }

  void answer() {
    codec::payload joined;  // large: a mapping of its own, not a gap in the heap later
    auto bytes = request_bytes(joined);
    auto sender = server_.peer_of(ctx_.peer());
    const auto& admission = server_.admission_;
    // Refused before inflating: a client told to wait costs no more than that.
    std::optional<admit_result> refused = admission.refusal(*signal_);
    std::string inflated;
    if (!refused && compressed(bytes)) {
      refused = admission.inflate(bytes, server_.settings_.max_message_size, inflated);
      bytes = inflated;
    }
    auto result = refused ? *refused : admission.admit(*signal_, bytes, sender);
    if (result.what == verdict::malformed || result.what == verdict::too_large) {
      server_.warn_bad(sender.pid, ctx_.method(), result.error);
    }
    if (!result.accepted()) {
      finish(status_of(result));
      return;
    }
    // An empty Export*ServiceResponse: no partial success to report.
    grpc::Slice empty;
    grpc::ByteBuffer response(&empty, 1);
    step_ = step::finishing;
    stream_.WriteAndFinish(response, grpc::WriteOptions(), grpc::Status::OK, this);
  }

  // gRPC's own inflation is off (it inflates a message whole before checking its size): a
  // message the client compressed arrives as it was sent. gzip is the one encoding announced,
  // and its magic number cannot begin a protobuf message (field 3 of wire type 7 does not
  // exist), so the bytes say whether they are compressed.
  static bool compressed(std::string_view bytes) {
    return bytes.size() >= 2 && bytes[0] == '\x1f' && bytes[1] == '\x8b';
  }

  otlp_grpc_server& server_;
  grpc::GenericServerContext ctx_;
  grpc::GenericServerAsyncReaderWriter stream_;
  grpc::ByteBuffer request_;
  std::optional<codec::signal> signal_;
  step step_ = step::requested;
};

otlp_grpc_server::otlp_grpc_server(asio::io_context& io, const config::listener& settings,
                                   const intake_policy& policy, deliver_fn deliver,
                                   intake_counters& counters)
    : settings_(settings),
      counters_(counters.of(protocol::otlp_grpc)),
      admission_(policy, std::move(deliver), counters_),
      acceptor_(io),
      accept_retry_(io) {}

std::variant<std::unique_ptr<otlp_grpc_server>, std::string> otlp_grpc_server::start(
    asio::io_context& io, const config::listener& settings, const intake_policy& policy,
    deliver_fn deliver, intake_counters& counters) {
  std::unique_ptr<otlp_grpc_server> s(
      new otlp_grpc_server(io, settings, policy, std::move(deliver), counters));
  if (!settings.unix_path.empty()) {
    auto bound = bind_unix_socket(settings.unix_path, SOCK_STREAM, settings);
    if (auto* err = std::get_if<std::string>(&bound)) return "otlp_grpc: " + *err;
    boost::system::error_code ec;
    s->socket_file_ = std::get<sys::bound_socket>(bound).file;
    s->acceptor_.assign(asio::local::stream_protocol(), std::get<sys::bound_socket>(bound).fd, ec);
    if (ec) return "otlp_grpc: " + ec.message();
  }

  grpc::ServerBuilder builder;
  if (!settings.tcp.empty()) {
    builder.AddListeningPort(settings.tcp, grpc::InsecureServerCredentials(), &s->tcp_port_);
  }
  builder.RegisterAsyncGenericService(&s->service_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(settings.max_message_size));
  // Large frames and a deep window (8 MiB: enough for large requests, small enough to bound what
  // one stream can buffer): a 512-span request arrives in a few frames instead of many
  // (see docs/PERFORMANCE.md).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, 16 * 1024 * 1024 - 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 * 1024 * 1024);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // Compressed messages are inflated here, streamed and bounded by max_message_size (see
  // call::compressed); gRPC 1.51 would inflate a bomb whole before checking its size.
  builder.AddChannelArgument(GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, false);
  // Every call open on a connection can have its whole request buffered in gRPC before sidelight
  // takes it. With a client keeping 8 calls of 171 kB open and the upstream down, allowing 4
  // lowered the peak RSS by 1.3-1.6 MiB, for about 8 % more CPU per span; one client with 64
  // calls of 2 MB open took it from 64 MiB of queue to 183 MiB with no cap, 108 MiB with 8.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(settings.max_concurrent_streams));
  // What all connections together hold is bounded by gRPC's memory quota, of
  // intake.max_buffered_bytes: near it, gRPC refuses new calls and resets some (the client sees
  // RESOURCE_EXHAUSTED or UNAVAILABLE), and closes connections (GOAWAY) to get memory back.
  // 256 connections each sending a 4 MB message took the agent to 878 MiB without it, 102-111
  // MiB with a 64 MiB quota; 32 connections of 4 calls of 2 MB stay under it and are all served.
  s->set_buffer_limit(policy.buffers().limit());
  builder.SetResourceQuota(s->quota_);
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_IDLE_MS,
      static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(settings.idle_timeout).count()));
  s->cq_ = builder.AddCompletionQueue();
  s->server_ = builder.BuildAndStart();
  if (!s->server_) {
    return "otlp_grpc: cannot listen on " +
           (settings.tcp.empty() ? settings.unix_path : settings.tcp);
  }
  if (!settings.tcp.empty() && s->tcp_port_ == 0) {
    return "otlp_grpc: cannot listen on " + settings.tcp;
  }
  for (int i = 0; i < kCallsAhead; ++i)
    new call(*s);
  s->worker_ = std::thread([p = s.get()] { p->serve(); });
  if (s->acceptor_.is_open()) s->accept();
  return s;
}

void otlp_grpc_server::set_buffer_limit(std::uint64_t bytes) {
  // 0 is no limit; gRPC's quota takes a size, so a petabyte stands for none.
  constexpr std::uint64_t kNone = 1ull << 50;
  quota_.Resize(static_cast<std::size_t>(bytes == 0 ? kNone : std::min(bytes, kNone)));
}

otlp_grpc_server::~otlp_grpc_server() {
  shutdown();
}

std::string otlp_grpc_server::address() const {
  std::string a;
  if (!settings_.unix_path.empty()) a = "unix:" + settings_.unix_path;
  if (!settings_.tcp.empty()) {
    if (!a.empty()) a += " and ";
    a += settings_.tcp;
  }
  return a;
}

void otlp_grpc_server::accept() {
  acceptor_.async_accept(
      [this](const boost::system::error_code& ec, asio::local::stream_protocol::socket socket) {
        if (ec == asio::error::operation_aborted || stopped_) return;
        if (ec) {
          // Out of descriptors, most likely: try again shortly instead of spinning.
          accept_retry_.expires_after(100ms);
          accept_retry_.async_wait([this](const boost::system::error_code& wec) {
            if (!wec && !stopped_) accept();
          });
          return;
        }
        int fd = socket.release();
        // gRPC's transport expects a non-blocking descriptor; asio leaves a new one blocking.
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        counters_.connections.fetch_add(1, std::memory_order_relaxed);
        struct stat st {};
        ::fstat(fd, &st);
        {
          std::lock_guard lock(peers_mutex_);
          make_room();
          peers_[fd] = peer{identify_peer(fd), st.st_ino, std::chrono::steady_clock::now()};
        }
        grpc::AddInsecureChannelFromFd(server_.get(), fd);
        accept();
      });
}

// Called with the lock held. Forgets connections gRPC has closed; when the cap is still reached,
// shuts down the one whose last call is the oldest (or that never made one), so idle connections
// cannot lock active clients out. gRPC then closes it as if the client had gone.
void otlp_grpc_server::make_room() {
  if (peers_.size() < settings_.max_connections) return;
  std::erase_if(peers_, [](const auto& kv) {
    struct stat st {};
    return ::fstat(kv.first, &st) != 0 || st.st_ino != kv.second.inode;
  });
  if (peers_.size() < settings_.max_connections) return;
  auto oldest = std::min_element(peers_.begin(), peers_.end(), [](const auto& a, const auto& b) {
    return a.second.last_call < b.second.last_call;
  });
  ::shutdown(oldest->first, SHUT_RDWR);
  peers_.erase(oldest);
  counters_.connections_evicted.fetch_add(1, std::memory_order_relaxed);
}

void otlp_grpc_server::serve() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok))
    static_cast<call*>(tag)->proceed(ok);
}

peer_identity otlp_grpc_server::peer_of(const std::string& peer) {
  // gRPC names a connection it was handed as "fd:N".
  if (!peer.starts_with("fd:")) return {};
  int fd = -1;
  std::from_chars(peer.data() + 3, peer.data() + peer.size(), fd);
  std::lock_guard lock(peers_mutex_);
  auto it = peers_.find(fd);
  if (it == peers_.end()) return {};
  it->second.last_call = std::chrono::steady_clock::now();
  return it->second.identity;
}

void otlp_grpc_server::warn_bad(pid_t pid, const std::string& method, const std::string& error) {
  if (!warnings_.allow()) return;
  log::warn({.pid = pid, .error = error}, "otlp_grpc: refused a request from {} to {}: {}{}",
            describe_peer(pid), method, error, warnings_.held_back());
}

void otlp_grpc_server::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  accept_retry_.cancel();
  sys::remove_socket_file(socket_file_);
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + 1s);
  if (cq_) cq_->Shutdown();
  if (worker_.joinable()) worker_.join();
}

}  // namespace sidelight::intake
