// NDJSON intake: one JSON object per line on a Unix stream socket, and one per datagram on a
// Unix datagram socket (see intake/ndjson.hpp for the shapes). Each read's lines are grouped into
// one ResourceLogs / ResourceSpans per service hint and handed to the pipeline. A bad line is
// counted and reported (rate-limited, naming the sending process); the connection goes on.
#pragma once

#include <google/protobuf/arena.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <variant>

#include "codec/payload.hpp"
#include "config/config.hpp"
#include "intake/admission.hpp"
#include "intake/connections.hpp"
#include "intake/intake.hpp"
#include "intake/io_pool.hpp"
#include "intake/ndjson.hpp"
#include "sys/unix_socket.hpp"

namespace sidelight::intake {

namespace asio = boost::asio;

// Turns NDJSON text into OTLP requests and hands them to admission, which counts, samples,
// enriches and delivers them as for any other protocol; no I/O, so it is tested without sockets.
class ndjson_batcher {
 public:
  ndjson_batcher(const admission& admit, std::uint64_t max_line)
      : admission_(admit), max_line_(max_line), lease_(admit.policy().buffers()) {}

  // What one feed came to; admission has counted it already.
  struct result {
    std::uint64_t lines = 0;     // lines seen, blank ones left out
    std::uint64_t items = 0;     // good lines admitted
    std::uint64_t bad = 0;       // lines refused as malformed
    std::uint64_t rejected = 0;  // good lines refused at the memory limit
    std::string first_error;     // of the first bad line, with its line number in this input
  };

  // Feeds bytes read from one client; complete lines are decoded, a partial one waits for more.
  // `at_end`: the client is gone (or this is a whole datagram), so the rest is a last line.
  void feed(std::string_view data, bool at_end, const peer_identity& sender, result& r);

 private:
  // Blocks below malloc's mmap threshold: an arena reset after each feed must not map and unmap.
  static google::protobuf::ArenaOptions arena_options() {
    google::protobuf::ArenaOptions o;
    o.start_block_size = 4 << 10;
    o.max_block_size = 32 << 10;
    return o;
  }
  void line(std::string_view text, result& r);
  void too_long(result& r);                             // one more line refused for its length
  bool keep_partial(std::string_view data, result& r);  // false: refused, counted
  void reset_partial();
  void emit(const peer_identity& sender, result& r);
  void admit(codec::signal s, std::string_view request, const peer_identity& sender,
             std::uint64_t lines, result& r);

  const admission& admission_;
  std::uint64_t max_line_;
  ndjson_decoder decoder_;
  ndjson_line decoded_;
  // A long line's buffer is a mapping of its own (codec::payload), so that letting go of it gives
  // the memory back to the kernel whichever thread's malloc arena it would have come from.
  codec::payload partial_;
  buffer_lease lease_;     // what partial_ holds beyond the connection's own buffer
  bool skipping_ = false;  // inside a line already refused as too long
  std::uint64_t line_number_ = 0;
  std::uint64_t pending_bad_ = 0;  // bad lines of this feed, counted at its end
  // Grouped by service hint: each group becomes one Resource*. The groups live on `arena_`, let go
  // of at once after each feed: a line's records then cost no malloc or free of their own, which
  // matters most when several connections' threads decode at once and share malloc's arenas.
  // `decoded_` is cleared, not replaced, line after line, so its buffers are reused.
  google::protobuf::Arena arena_{arena_options()};
  std::map<std::string, opentelemetry::proto::logs::v1::ScopeLogs*> logs_;
  std::map<std::string, opentelemetry::proto::trace::v1::ScopeSpans*> spans_;
};

class ndjson_server : public std::enable_shared_from_this<ndjson_server> {
 public:
  // Accepts on `io`'s thread (datagrams are read there too); each stream connection then lives on
  // one of `workers`' threads. `workers` must outlive every connection: stop it after shutdown().
  static std::variant<std::shared_ptr<ndjson_server>, std::string> start(
      asio::io_context& io, io_pool& workers, const config::listener& settings,
      const intake_policy& policy, deliver_fn deliver, intake_counters& counters);

  // Stops accepting and closes every connection (on its own thread); idempotent. Call on the
  // io_context's thread.
  void shutdown();
  std::string address() const;

 private:
  class session;
  ndjson_server(asio::io_context& io, io_pool& workers, const config::listener& settings,
                const intake_policy& policy, deliver_fn deliver, intake_counters& counters);
  void accept();
  void receive();
  void report_bad(pid_t pid, const ndjson_batcher::result& r);

  config::listener settings_;
  protocol_counters& counters_;
  admission admission_;
  asio::local::stream_protocol::acceptor acceptor_;
  asio::local::datagram_protocol::socket datagrams_;
  sys::socket_file stream_file_;  // removed at stop only while still ours
  sys::socket_file datagram_file_;
  asio::steady_timer accept_retry_;
  std::unique_ptr<ndjson_batcher> datagram_batcher_;
  std::string datagram_buffer_;
  io_pool& workers_;
  std::vector<std::weak_ptr<session>> sessions_;  // on the acceptor's thread only
  std::mutex warnings_mutex_;                     // connections report from their own threads
  client_warnings warnings_;
  bool stopped_ = false;

  friend class session;
};

}  // namespace sidelight::intake
