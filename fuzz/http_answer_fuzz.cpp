// Any bytes as an OTLP/HTTP upstream's answer, read the way the OTLP/HTTP exporter reads it:
// Beast's response parser with the exporter's body limit, then classify_http_answer (status,
// Retry-After in both forms, partial success, google.rpc.Status). An outcome, never a crash.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "export/otlp_http_exporter.hpp"

namespace beast = boost::beast;
namespace http = beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  http::response_parser<http::string_body> parser;
  parser.body_limit(4 << 20);
  beast::error_code ec;
  parser.put(boost::asio::buffer(data + 1, size - 1), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;
  const auto& res = parser.get();
  auto content_type = res[http::field::content_type];
  auto retry_after = res[http::field::retry_after];
  sidelight::exporting::http_answer answer;
  answer.status = res.result_int();
  answer.content_type = {content_type.data(), content_type.size()};
  answer.body = res.body();
  answer.retry_after = {retry_after.data(), retry_after.size()};
  auto signal = static_cast<sidelight::codec::signal>(data[0] % 3);
  auto out = sidelight::exporting::classify_http_answer(
      signal, answer, std::chrono::system_clock::from_time_t(1445412480));
  if (out.retry_after &&
      (out.retry_after->count() < 0 || *out.retry_after > std::chrono::hours(24)))
    std::abort();
  if (out.message.size() > 400) std::abort();  // a quote is bounded, whatever the upstream says
  return 0;
}
