// An OTLP/HTTP upstream inside the test process, for fault injection: told what to do with the
// next trace requests, it answers any status (with Retry-After and any body), hangs without
// answering, answers late, or drops the connection in the middle of a request. Metrics and logs
// (sidelight's own heartbeat among them, sent whenever it is due) are always accepted, so that
// they never take a fault meant for the spans a test sends. It records every request it read and
// every span it accepted.
//
// It is a fault injector, not a compatibility proof: the interop suite proves the OTLP/HTTP
// exporter against the real Collector.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sidelight::test {

class http_upstream {
 public:
  struct fault {
    // answer: read the request, then answer; hang: read it and never answer; drop_mid_request:
    // read only its headers and close; close_without_answer: read it, take its spans, close;
    // close_after_answer: answer (keep-alive), then close its side and wait for the client's.
    // raw: read the request, then write `raw_head` and `raw_repeat` again and again until
    // `raw_bytes` are written or the client goes (a hostile answer, such as an endless chunk
    // extension).
    enum class kind {
      answer,
      hang,
      drop_mid_request,
      close_without_answer,
      close_after_answer,
      raw
    };
    kind what = kind::answer;
    unsigned status = 200;
    std::string retry_after;             // the Retry-After header, when not empty
    std::string body;                    // the answer's body (protobuf), when not empty
    std::chrono::milliseconds delay{0};  // before answering
    bool early_hints = false;            // a 103 Early Hints before the answer
    std::string raw_head;
    std::string raw_repeat;
    std::size_t raw_bytes = 0;
  };
  static fault status(unsigned code, std::string retry_after = "");
  static fault hang();
  static fault drop_mid_request();
  static fault slow(std::chrono::milliseconds delay);
  static fault close_without_answer();
  static fault close_after_answer();
  static fault raw(std::string head, std::string repeat, std::size_t bytes);

  struct request_seen {
    std::string target;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::size_t body_bytes = 0;
    std::chrono::steady_clock::time_point at;
  };

  http_upstream();  // listens on 127.0.0.1, on a free port
  ~http_upstream();

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The next `count` trace requests meet `f`; the ones after them are accepted.
  void next(int count, const fault& f);

  // Waits until `count` spans (log records) in all were accepted; false after `timeout`.
  bool wait_spans(std::size_t count, std::chrono::milliseconds timeout) const;
  bool wait_requests(std::size_t count, std::chrono::milliseconds timeout) const;
  std::vector<std::string> span_names() const;
  std::vector<request_seen> requests() const;  // every request read in full, in order
  std::size_t connections() const;             // accepted so far
  // Waits until clients closed `count` connections that close_after_answer half-closed.
  bool wait_closed_by_client(std::size_t count, std::chrono::milliseconds timeout) const;

 private:
  void accept_loop();
  void serve(int fd);
  void record(const std::string& target, const std::string& body);

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool stopping_ = false;
  std::vector<int> open_fds_;
  std::vector<std::thread> workers_;
  std::deque<fault> pending_;
  std::vector<request_seen> requests_;
  std::vector<std::string> span_names_;
  std::size_t connections_ = 0;
  std::size_t closed_by_client_ = 0;
};

}  // namespace sidelight::test
