#include "support/intake_client.hpp"

#include <grpcpp/generic/generic_stub.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace sidelight::test {

namespace otlp = opentelemetry::proto;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

std::string traces_request(const std::string& name, int spans, const std::string& service) {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value(service);
  auto* ss = rs->add_scope_spans();
  for (int i = 0; i < spans; ++i) {
    auto* s = ss->add_spans();
    s->set_name(name);
    s->set_trace_id(std::string(16, '\x01'));
    s->set_span_id(std::string(8, '\x02'));
  }
  return req.SerializeAsString();
}

grpc::Status grpc_export(const std::string& socket, const std::string& bytes,
                         const std::string& method, bool gzip) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  // A connection of its own: gRPC would otherwise share one between the channels of a process.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + bound(10s));
  if (gzip) ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

http_result http_post(const std::string& socket, const std::string& target,
                      const std::string& content_type, const std::string& body) {
  boost::asio::io_context io;
  boost::asio::local::stream_protocol::socket s(io);
  s.connect(boost::asio::local::stream_protocol::endpoint(socket));
  http::request<http::string_body> req(http::verb::post, target, 11);
  req.set(http::field::host, "localhost");
  req.set(http::field::content_type, content_type);
  req.body() = body;
  req.prepare_payload();
  boost::beast::error_code ec;
  http::write(s, req, ec);  // the server may answer 413 and close before reading it all
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res, ec);
  return {res.result_int(), res.body()};
}

http_result http_get(const std::string& socket, const std::string& target) {
  int fd = connect_unix(socket);
  REQUIRE(fd >= 0);
  send_all(fd, "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  auto text = read_until(fd, "\x01never", bound(5s));
  ::close(fd);
  http_result r;
  if (text.rfind("HTTP/1.1 ", 0) == 0)
    r.status = static_cast<unsigned>(std::atoi(text.c_str() + 9));
  if (auto end = text.find("\r\n\r\n"); end != std::string::npos) r.body = text.substr(end + 4);
  return r;
}

std::string raw_exchange(const std::string& socket, const std::string& request,
                         std::chrono::milliseconds timeout) {
  int fd = connect_unix(socket);
  REQUIRE(fd >= 0);
  send_all(fd, request);
  auto text = read_until(fd, "\x01never", timeout);
  ::close(fd);
  return text;
}

std::string read_until(int fd, const std::string& text, std::chrono::milliseconds timeout) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got.find(text) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[16384];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    if (got.size() < (1u << 20)) got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
}

void ndjson_send(const std::string& socket, const std::string& text) {
  int fd = connect_unix(socket);
  REQUIRE(fd >= 0);
  send_all(fd, text);
  ::close(fd);
}

std::string garbage(std::size_t n) {
  std::mt19937 rng(42);
  std::string out(n, '\0');
  for (auto& c : out)
    c = static_cast<char>(rng());
  return out;
}

namespace {

long status_field_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
  }
  return -1;
}

}  // namespace

bool sanitized() {
  const char* scale = std::getenv("SIDELIGHT_TEST_TIME_SCALE");
  return scale && std::atoi(scale) > 1;
}

long rss_kib(pid_t pid) {
  return status_field_kib(pid, "VmRSS:");
}

long peak_rss_kib(pid_t pid) {
  return status_field_kib(pid, "VmHWM:");
}

bool rss_below(pid_t pid, long kib) {
  if (sanitized()) return true;
  auto rss = rss_kib(pid);
  INFO("RSS " << rss << " KiB, bound " << kib << " KiB");
  return rss > 0 && rss < kib;
}

bool peak_rss_below(pid_t pid, long kib) {
  if (sanitized()) return true;
  auto rss = peak_rss_kib(pid);
  INFO("peak RSS " << rss << " KiB, bound " << kib << " KiB");
  return rss > 0 && rss < kib;
}

nlohmann::json status_of(const temp_dir& dir, const agent& a) {
  auto r = run_cli(dir, {"status", "--admin", a.admin_address(), "--json"});
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.output);
}

nlohmann::json intake_of(const nlohmann::json& status, const std::string& protocol) {
  for (const auto& i : status["intake"])
    if (i["protocol"] == protocol) return i;
  FAIL("no intake entry for " << protocol);
  return {};
}

nlohmann::json wait_status(const temp_dir& dir, const agent& a,
                           const std::function<bool(const nlohmann::json&)>& done,
                           std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto status = status_of(dir, a);
  while (!done(status) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    status = status_of(dir, a);
  }
  return status;
}

nlohmann::json lane_of(const nlohmann::json& status, const std::string& exporter,
                       const std::string& signal) {
  for (const auto& l : status["pipelines"])
    if (l["exporter"] == exporter && l["signal"] == signal) return l;
  FAIL("no pipeline entry for " << exporter << "/" << signal);
  return {};
}

nlohmann::json settled_lane(const temp_dir& dir, const agent& a) {
  using namespace std::chrono_literals;
  auto settled = [](const nlohmann::json& st) {
    auto lane = lane_of(st, "otlp", "traces");
    return lane["received"].get<int>() > 0 && lane["queued_items"] == 0 && lane["in_flight"] == 0;
  };
  auto status = wait_status(dir, a, settled, bound(15s));
  INFO("the traces lane did not settle: " << lane_of(status, "otlp", "traces").dump());
  REQUIRE(settled(status));
  return lane_of(status, "otlp", "traces");
}

bool books_balance(const nlohmann::json& lane) {
  std::uint64_t dropped = 0;
  for (const auto& [reason, n] : lane["dropped"].items())
    dropped += n.get<std::uint64_t>();
  return lane["received"].get<std::uint64_t>() == lane["exported"].get<std::uint64_t>() + dropped +
                                                      lane["queued_items"].get<std::uint64_t>() +
                                                      lane["in_flight"].get<std::uint64_t>();
}

}  // namespace sidelight::test
