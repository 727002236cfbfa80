#include "export/otlp_http_exporter.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "agent_version.hpp"
#include "codec/gzip.hpp"
#include "codec/utf8.hpp"
#include "export/tls_files.hpp"
#include "google/rpc/status.pb.h"

namespace sidelight::exporting {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using unix_stream = beast::basic_stream<net::local::stream_protocol>;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
using request_t = http::request<http::span_body<const char>>;
using parser_t = http::response_parser<http::string_body>;

namespace {

constexpr std::size_t kMaxIdleConnections = 16;
constexpr std::uint64_t kAnswerLimit = 4 << 20;
constexpr std::size_t kAnswerBufferLimit = 64 * 1024;
constexpr std::size_t kQuoteLimit = 300;

std::string_view path_of(signal s) {
  switch (s) {
    case signal::traces:
      return "/v1/traces";
    case signal::metrics:
      return "/v1/metrics";
    case signal::logs:
      return "/v1/logs";
  }
  return "/v1/metrics";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// An upstream's text, fit for a log line: one line, bounded.
std::string quote(std::string_view text) {
  return std::string(trim(codec::printable_utf8(text, kQuoteLimit)));
}

bool is_protobuf(std::string_view content_type) {
  constexpr std::string_view type = "application/x-protobuf";
  if (content_type.size() < type.size()) return false;
  for (std::size_t i = 0; i < type.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(content_type[i])) != type[i]) return false;
  }
  return content_type.size() == type.size() || content_type[type.size()] == ';' ||
         content_type[type.size()] == ' ';
}

std::string_view view(beast::string_view s) {
  return {s.data(), s.size()};
}

export_outcome stopped_outcome() {
  export_outcome out;
  out.result = export_outcome::kind::retryable;
  out.message = "exporter stopped";
  return out;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  constexpr std::uint64_t kMaxSeconds = 24 * 3600;  // a longer hint is a bug upstream, not a plan
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    std::uint64_t seconds = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range) seconds = kMaxSeconds;
    if (ec != std::errc() && ec != std::errc::result_out_of_range) return std::nullopt;
    return std::chrono::seconds(std::min(seconds, kMaxSeconds));
  }
  // IMF-fixdate, the only form RFC 9110 lets a sender produce.
  std::tm tm{};
  std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  // Compared in seconds first: a date centuries away does not fit in the clock's nanoseconds
  // (found by fuzz_http_answer).
  constexpr auto kMax = std::chrono::milliseconds(kMaxSeconds * 1000);
  auto when = timegm(&tm);
  auto now_seconds = std::chrono::system_clock::to_time_t(now);
  if (when > now_seconds + static_cast<std::time_t>(kMaxSeconds)) return kMax;
  if (when < now_seconds) return std::chrono::milliseconds(0);
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::from_time_t(when) - now);
  return std::clamp(wait, std::chrono::milliseconds(0), kMax);
}

export_outcome classify_http_answer(signal s, const http_answer& answer,
                                    std::chrono::system_clock::time_point now) {
  export_outcome out;
  if (answer.status >= 200 && answer.status < 300) {
    if (!answer.body.empty() && (answer.content_type.empty() || is_protobuf(answer.content_type))) {
      read_partial_success(s, std::string(answer.body), out);
    }
    return out;
  }
  std::string detail;
  google::rpc::Status status;
  if (is_protobuf(answer.content_type) &&
      status.ParseFromArray(answer.body.data(), static_cast<int>(answer.body.size()))) {
    detail = quote(status.message());
  } else {
    detail = quote(answer.body);
  }
  out.message = "HTTP " + std::to_string(answer.status) + (detail.empty() ? "" : ": " + detail);
  switch (answer.status) {
    case 429:
    case 502:
    case 503:
    case 504:
      out.result = export_outcome::kind::retryable;
      out.retry_after = parse_retry_after(answer.retry_after, now);
      break;
    default:
      out.result = export_outcome::kind::permanent;
      break;
  }
  return out;
}

namespace {

// One connection to the upstream, kept alive between requests.
struct connection {
  std::variant<beast::tcp_stream, tls_stream, unix_stream> stream;
  // Bounded: a chunk header with its extensions, or the trailers, must fit in it whole (Beast
  // buffers each until its end is seen, and bounds neither); the body has its own limit.
  beast::flat_buffer buffer{kAnswerBufferLimit};

  template <class Stream, class... Args>
  explicit connection(std::in_place_type_t<Stream> type, Args&&... args)
      : stream(type, std::forward<Args>(args)...) {}

  std::uint64_t idle_id = 0;  // set each time it goes idle

  // `f(socket)` on the TCP or Unix socket under any TLS.
  template <class F>
  decltype(auto) on_socket(F&& f) {
    return std::visit(
        [&](auto& s) -> decltype(auto) { return f(beast::get_lowest_layer(s).socket()); }, stream);
  }
  int fd() {
    return on_socket([](auto& socket) { return socket.native_handle(); });
  }
  void close() {
    on_socket([](auto& socket) {
      beast::error_code ignored;
      socket.close(ignored);
    });
  }
  // Calls `f(error_code)` once the socket has something to read (or is closed, or the wait is
  // cancelled with operation_aborted).
  template <class F>
  void when_readable(F f) {
    on_socket([&](auto& socket) { socket.async_wait(net::socket_base::wait_read, std::move(f)); });
  }
  void stop_waiting() {
    on_socket([](auto& socket) {
      beast::error_code ignored;
      socket.cancel(ignored);
    });
  }
  // An idle connection can carry the next request while the upstream has neither closed it nor
  // sent anything unasked (a TLS close_notify, for one).
  bool usable() {
    if (buffer.size() != 0) return false;
    char byte = 0;
    auto n = ::recv(fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

// Whether the exporter's io_context can still take handlers; shared with lookups that may
// outlive it.
struct io_door {
  std::mutex mutex;
  net::io_context* io = nullptr;  // null once the exporter is gone
};

// A host name being resolved on a thread of its own: getaddrinfo cannot be interrupted, and one
// that hangs (a DNS server gone quiet) must cost neither the request's timeout nor any other
// request. The exchange waits for it on a timer that the lookup, its deadline or abort() cancels.
struct lookup {
  std::mutex mutex;
  bool finished = false;
  std::vector<tcp::endpoint> found;
  std::string error;
};

// One request, from send() to its outcome.
struct exchange {
  explicit exchange(net::io_context& io) : deadline(io), wake(io) {}

  signal what{};
  codec::payload_ptr body;  // as sent: gzipped when configured
  exporter::done_fn done;
  std::chrono::steady_clock::time_point started;
  net::steady_timer deadline;
  net::steady_timer wake;  // the lookup's completion, when one is under way
  std::unique_ptr<connection> conn;
  const char* step = "connecting to";  // for the message when it fails
  bool timed_out = false;
  bool aborted = false;
  bool finished = false;
  bool answer_started = false;  // an interim answer came: the request reached the upstream
  std::weak_ptr<exchange> self;

  void abort() {
    aborted = true;
    wake.cancel();
    if (conn) conn->close();
  }
};

// Writes the request and reads the final answer into `parser`, skipping interim ones (100
// Continue, 103 Early Hints), which a proxy may send first.
template <class Stream>
net::awaitable<beast::error_code> write_and_read(Stream& s, exchange& ex, request_t& req,
                                                 std::optional<parser_t>& parser) {
  beast::error_code ec;
  ex.step = "sending to";
  co_await http::async_write(s, req, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return ec;
  ex.step = "reading the answer from";
  for (;;) {
    parser.emplace();
    parser->body_limit(kAnswerLimit);
    co_await http::async_read(s, ex.conn->buffer, *parser,
                              net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return ec;
    auto status = parser->get().result_int();
    if (status / 100 != 1 || status == 101) co_return ec;
    ex.answer_started = true;
  }
}

std::shared_ptr<exchange> self_of(exchange& ex) {
  return ex.self.lock();
}

// getaddrinfo, on the calling thread; the outcome lands in `into`.
void resolve(lookup& into, const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
  std::vector<tcp::endpoint> found;
  for (auto* a = list; rc == 0 && a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      net::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &in->sin_addr, b.size());
      found.emplace_back(net::ip::address_v4(b), port);
    } else if (a->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      net::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &in6->sin6_addr, b.size());
      found.emplace_back(net::ip::address_v6(b, in6->sin6_scope_id), port);
    }
  }
  if (list != nullptr) ::freeaddrinfo(list);
  std::lock_guard lock(into.mutex);
  into.finished = true;
  into.found = std::move(found);
  if (rc != 0) into.error = ::gai_strerror(rc);
}

bool is_ip_literal(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

struct otlp_http_exporter::impl {
  config::otlp_exporter cfg;
  std::optional<ssl::context> tls;
  std::string tls_name;  // the name the certificate must carry, sent as SNI
  std::string host_header;
  std::string endpoint_text;

  net::io_context io{1};
  std::shared_ptr<io_door> door = std::make_shared<io_door>();
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(io);
  std::thread thread;

  std::mutex mutex;
  bool stopping = false;  // under mutex: send() refuses from then on

  // The I/O thread's own.
  bool stopped = false;
  std::vector<std::unique_ptr<connection>> idle;
  std::uint64_t last_idle_id = 0;
  std::set<exchange*> active;

  void start(signal s, codec::payload_ptr request, done_fn done) {
    if (stopped) {
      done(stopped_outcome());
      return;
    }
    auto ex = std::make_shared<exchange>(io);
    ex->self = ex;
    ex->what = s;
    ex->done = std::move(done);
    ex->started = std::chrono::steady_clock::now();
    ex->body = std::move(request);
    active.insert(ex.get());
    net::co_spawn(io, run(ex), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);  // run() catches everything; this is a bug
    });
  }

  net::awaitable<void> run(std::shared_ptr<exchange> ex) {
    ex->deadline.expires_after(cfg.timeout);
    ex->deadline.async_wait([ex](beast::error_code ec) {
      if (ec || ex->finished) return;
      ex->timed_out = true;
      ex->abort();
    });
    export_outcome out;
    try {
      // A kept-alive connection the upstream closed meanwhile fails before any answer; the
      // request then goes once more, on a fresh connection.
      for (int attempt = 0;; ++attempt) {
        bool reused = false;
        auto ec = co_await once(*ex, reused, out);
        if (!ec) break;
        if (ex->conn) ex->conn->close();
        ex->conn.reset();
        if (reused && attempt == 0 && !ex->aborted) continue;
        out = failure(*ex, ec);
        break;
      }
    } catch (const std::exception& e) {
      out = export_outcome{};
      out.result = export_outcome::kind::retryable;
      out.message = std::string("OTLP/HTTP exporter: ") + e.what();
    }
    ex->finished = true;
    ex->deadline.cancel();
    active.erase(ex.get());
    limit_retry_after(out, cfg.retry.max_interval);
    out.latency = std::chrono::steady_clock::now() - ex->started;
    auto done = std::move(ex->done);
    done(std::move(out));
  }

  export_outcome failure(const exchange& ex, const beast::error_code& ec) const {
    if (stopped) return stopped_outcome();
    export_outcome out;
    out.result = export_outcome::kind::retryable;
    if (ex.timed_out) {
      out.message = "no answer from " + endpoint_text + " within the timeout of " +
                    std::to_string(cfg.timeout.count() / 1'000'000) + " ms (" + ex.step + ")";
    } else {
      out.message = std::string(ex.step) + " " + endpoint_text + ": " + ec.message();
    }
    return out;
  }

  std::unique_ptr<connection> take_idle() {
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      c->stop_waiting();
      if (c->usable()) return c;
      c->close();
    }
    return nullptr;
  }

  // An idle connection becomes readable when the upstream closes it (or sends anything unasked):
  // it is closed then, not left half-closed until the next request looks at it.
  void keep_idle(std::unique_ptr<connection> c) {
    auto id = c->idle_id = ++last_idle_id;
    c->when_readable([this, id](beast::error_code ec) {
      if (ec == net::error::operation_aborted) return;
      auto it =
          std::find_if(idle.begin(), idle.end(), [id](const auto& p) { return p->idle_id == id; });
      if (it == idle.end()) return;  // taken for a request meanwhile
      (*it)->close();
      idle.erase(it);
    });
    idle.push_back(std::move(c));
  }

  net::awaitable<beast::error_code> once(exchange& ex, bool& reused, export_outcome& out) {
    if (ex.aborted) co_return net::error::operation_aborted;
    ex.conn = take_idle();
    reused = ex.conn != nullptr;
    if (!ex.conn) {
      auto ec = co_await connect(ex);
      if (ec) co_return ec;
    }
    if (ex.aborted) co_return net::error::operation_aborted;

    request_t req{http::verb::post, cfg.target.url_path + std::string(path_of(ex.what)), 11};
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, "sidelight/" SIDELIGHT_VERSION);
    req.set(http::field::content_type, "application/x-protobuf");
    if (cfg.codec == config::otlp_exporter::compression::gzip) {
      req.set(http::field::content_encoding, "gzip");
    }
    for (const auto& [key, value] : cfg.headers)
      req.set(key, value);
    req.body() = request_t::body_type::value_type(ex.body->data(), ex.body->size());
    req.keep_alive(true);
    req.prepare_payload();

    std::optional<parser_t> parser;
    ex.answer_started = false;
    beast::error_code ec;
    if (auto* plain = std::get_if<beast::tcp_stream>(&ex.conn->stream)) {
      ec = co_await write_and_read(*plain, ex, req, parser);
    } else if (auto* secure = std::get_if<tls_stream>(&ex.conn->stream)) {
      ec = co_await write_and_read(*secure, ex, req, parser);
    } else {
      ec = co_await write_and_read(std::get<unix_stream>(ex.conn->stream), ex, req, parser);
    }
    bool header_read = parser && parser->is_header_done();
    if (ec == http::error::body_limit && header_read) {
      // An answer too large to read is judged by its status; the connection cannot be reused.
      http_answer answer;
      answer.status = parser->get().result_int();
      answer.retry_after = view(parser->get()[http::field::retry_after]);
      out = classify_http_answer(ex.what, answer, std::chrono::system_clock::now());
      ex.conn->close();
      ex.conn.reset();
      co_return beast::error_code{};
    }
    if (ec) {
      reused = reused && !ex.answer_started && !(parser && parser->got_some());
      co_return ec;
    }
    auto& res = parser->get();
    http_answer answer;
    answer.status = res.result_int();
    answer.content_type = view(res[http::field::content_type]);
    answer.body = res.body();
    answer.retry_after = view(res[http::field::retry_after]);
    out = classify_http_answer(ex.what, answer, std::chrono::system_clock::now());
    if (parser->keep_alive() && !ex.aborted && !stopped && idle.size() < kMaxIdleConnections) {
      keep_idle(std::move(ex.conn));
    } else {
      ex.conn->close();
      ex.conn.reset();
    }
    co_return beast::error_code{};
  }

  net::awaitable<beast::error_code> connect(exchange& ex) {
    beast::error_code ec;
    ex.step = "connecting to";
    if (cfg.target.kind == config::endpoint::scheme::unix_path) {
      ex.conn = std::make_unique<connection>(std::in_place_type<unix_stream>, io);
      co_await std::get<unix_stream>(ex.conn->stream)
          .socket()
          .async_connect(net::local::stream_protocol::endpoint(cfg.target.path),
                         net::redirect_error(net::use_awaitable, ec));
      co_return ec;
    }
    ex.step = "resolving";
    std::vector<tcp::endpoint> found;
    if (auto ip = net::ip::make_address(cfg.target.host, ec); !ec) {
      found.emplace_back(ip, cfg.target.port);
    } else {
      auto pending = std::make_shared<lookup>();
      std::thread([pending, door = door, weak = std::weak_ptr<exchange>(self_of(ex)),
                   host = cfg.target.host, port = cfg.target.port] {
        resolve(*pending, host, port);
        std::lock_guard lock(door->mutex);
        if (door->io == nullptr) return;
        net::post(*door->io, [weak] {
          if (auto e = weak.lock()) e->wake.cancel();
        });
      }).detach();
      ex.wake.expires_at(net::steady_timer::time_point::max());
      bool finished = false;
      {
        std::lock_guard lock(pending->mutex);
        finished = pending->finished;
      }
      if (!finished) co_await ex.wake.async_wait(net::redirect_error(net::use_awaitable, ec));
      std::lock_guard lock(pending->mutex);
      if (!pending->finished) co_return net::error::operation_aborted;  // timed out or stopped
      if (pending->found.empty()) co_return net::error::host_not_found;
      found = pending->found;
    }
    ec = {};
    if (ex.aborted) co_return net::error::operation_aborted;
    ex.step = "connecting to";
    if (tls) {
      ex.conn = std::make_unique<connection>(std::in_place_type<tls_stream>, io, *tls);
    } else {
      ex.conn = std::make_unique<connection>(std::in_place_type<beast::tcp_stream>, io);
    }
    auto& lowest = std::visit(
        [](auto& s) -> beast::tcp_stream& {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, unix_stream>) {
            throw std::logic_error("a unix stream for a TCP endpoint");
          } else {
            return beast::get_lowest_layer(s);
          }
        },
        ex.conn->stream);
    co_await lowest.async_connect(found, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return ec;
    if (ex.aborted) co_return net::error::operation_aborted;
    lowest.socket().set_option(tcp::no_delay(true), ec);
    if (cfg.keepalive_time.count() > 0) {
      int fd = lowest.socket().native_handle();
      int on = 1;
      int idle_s = static_cast<int>(std::max<std::int64_t>(
          1, std::chrono::duration_cast<std::chrono::seconds>(cfg.keepalive_time).count()));
      int interval_s = static_cast<int>(std::max<std::int64_t>(
          1, std::chrono::duration_cast<std::chrono::seconds>(cfg.keepalive_timeout).count()));
      int probes = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
    }
    if (tls) {
      auto& secure = std::get<tls_stream>(ex.conn->stream);
      if (!is_ip_literal(tls_name))
        SSL_set_tlsext_host_name(secure.native_handle(), tls_name.c_str());
      secure.set_verify_callback(ssl::host_name_verification(tls_name));
      ex.step = "TLS handshake with";
      co_await secure.async_handshake(ssl::stream_base::client,
                                      net::redirect_error(net::use_awaitable, ec));
    }
    co_return ec;
  }

  void abort_all() {
    stopped = true;
    for (auto* ex : active)
      ex->abort();
    for (auto& c : idle)
      c->close();
    idle.clear();
  }
};

std::variant<std::unique_ptr<otlp_http_exporter>, std::string> otlp_http_exporter::create(
    const config::otlp_exporter& cfg) {
  auto i = std::make_unique<impl>();
  i->cfg = cfg;
  const auto& t = cfg.target;
  if (t.kind == config::endpoint::scheme::unix_path) {
    i->host_header = "localhost";
    i->endpoint_text = "unix:" + t.path;
  } else {
    std::string host = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
    i->endpoint_text =
        (cfg.use_tls() ? "https://" : "http://") + host + ":" + std::to_string(t.port) + t.url_path;
    // With tls.server_name, the name the upstream answers to (as gRPC's :authority would be).
    if (cfg.use_tls() && !cfg.tls.server_name.empty()) host = cfg.tls.server_name;
    i->host_header = host + ":" + std::to_string(t.port);
  }
  if (cfg.use_tls() && t.kind != config::endpoint::scheme::unix_path) {
    auto files = read_tls_files(cfg.tls);
    if (auto* err = std::get_if<std::string>(&files)) return *err;
    const auto& pem = std::get<tls_files>(files);
    try {
      ssl::context ctx(ssl::context::tls_client);
      ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      ctx.set_verify_mode(ssl::verify_peer);
      if (cfg.tls.ca_file.empty()) {
        ctx.set_default_verify_paths();
      } else {
        ctx.add_certificate_authority(boost::asio::buffer(pem.ca));
      }
      if (!cfg.tls.cert_file.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(pem.cert_chain));
        ctx.use_private_key(boost::asio::buffer(pem.private_key), ssl::context::pem);
      }
      i->tls.emplace(std::move(ctx));
    } catch (const boost::system::system_error& e) {
      return "cannot set up TLS: " + std::string(e.what());
    }
    i->tls_name = cfg.tls.server_name.empty() ? t.host : cfg.tls.server_name;
  }
  auto* raw = i.get();
  i->door->io = &i->io;
  i->thread = std::thread([raw] { raw->io.run(); });
  ::pthread_setname_np(i->thread.native_handle(), "sl-http-export");
  return std::unique_ptr<otlp_http_exporter>(new otlp_http_exporter(std::move(i)));
}

otlp_http_exporter::otlp_http_exporter(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

otlp_http_exporter::~otlp_http_exporter() {
  shutdown();
}

const std::string& otlp_http_exporter::name() const {
  return impl_->cfg.name;
}

void otlp_http_exporter::send(signal s, codec::payload_ptr request, done_fn done) {
  // On the caller's thread, before the request's deadline starts: a 4 MiB batch takes a few tens
  // of milliseconds that the I/O thread's other exchanges should not wait for.
  if (impl_->cfg.codec == config::otlp_exporter::compression::gzip) {
    request = std::make_shared<const codec::payload>(codec::gzip_compress(*request));
  }
  std::unique_lock lock(impl_->mutex);
  if (impl_->stopping) {
    lock.unlock();
    done(stopped_outcome());
    return;
  }
  net::post(impl_->io,
            [i = impl_.get(), s, request = std::move(request), done = std::move(done)]() mutable {
              i->start(s, std::move(request), std::move(done));
            });
}

void otlp_http_exporter::probe(std::function<void()> answered) {
  std::unique_lock lock(impl_->mutex);
  if (impl_->stopping) {
    lock.unlock();
    answered();
    return;
  }
  net::post(impl_->io, std::move(answered));
}

void otlp_http_exporter::shutdown() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  net::post(impl_->io, [i = impl_.get()] { i->abort_all(); });
  impl_->work.reset();
  if (impl_->thread.joinable()) impl_->thread.join();
  std::lock_guard lock(impl_->door->mutex);
  impl_->door->io = nullptr;  // a lookup finishing later posts nowhere
}

}  // namespace sidelight::exporting
