// OTLP/HTTP (protobuf) to one upstream, on Boost.Beast: `POST {base}/v1/{traces,metrics,logs}`
// over TCP, TLS (OpenSSL) or a Unix socket. Requests travel as the bytes they already are (gzipped
// when configured); kept-alive connections are reused, and as many requests as the pipeline sends
// at once are in flight at once, each on its own connection. One I/O thread runs every exchange.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"
#include "export/exporter.hpp"

namespace sidelight::exporting {

// The answer of an OTLP/HTTP upstream, as much of it as classification needs.
struct http_answer {
  unsigned status = 0;
  std::string_view content_type;
  std::string_view body;
  std::string_view retry_after;  // the Retry-After header, empty when absent
};

// How an answer is classified (see docs/RELIABILITY.md): 2xx is success, with partial success
// read from the body; 429, 502, 503 and 504 are retryable, honouring Retry-After; every other
// status is permanent. The message quotes the upstream's google.rpc.Status or its text.
export_outcome classify_http_answer(signal s, const http_answer& answer,
                                    std::chrono::system_clock::time_point now);

// Retry-After as delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT");
// nullopt when it is neither. A date in the past means no wait.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

class otlp_http_exporter final : public exporter {
 public:
  // Fails (returns an error text) when the TLS files cannot be loaded.
  static std::variant<std::unique_ptr<otlp_http_exporter>, std::string> create(
      const config::otlp_exporter& cfg);

  ~otlp_http_exporter() override;

  const std::string& name() const override;
  void send(signal s, codec::payload_ptr request, done_fn done) override;
  void shutdown() override;
  // Answered by the I/O thread, in turn with the exchanges posted before it.
  void probe(std::function<void()> answered) override;

  struct impl;

 private:
  explicit otlp_http_exporter(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace sidelight::exporting
