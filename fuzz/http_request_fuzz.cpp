// Any bytes as what a client sends on an OTLP/HTTP connection, read as intake reads it: the head,
// then the body a read at a time, under the same bounds (head, read buffer, body), several
// requests one after another on one connection. Byte 0 picks how many bytes each read returns.
// Chunked bodies, chunk extensions, trailers and pipelined requests end in a request or an
// error; never a crash, a hang, or a body past its limit.
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "intake/http_request_parser.hpp"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  constexpr std::uint64_t kMaxBody = 1 << 16;
  boost::asio::io_context io;
  boost::beast::test::stream client(io);
  client.read_size(1 + (data[0] * 37u) % 4096);
  client.append(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  client.close_remote();
  boost::beast::flat_buffer buffer{sidelight::intake::kHttpBufferLimit};
  for (int request = 0; request < 16; ++request) {
    sidelight::intake::http_request_parser p;
    sidelight::intake::bound_request_parser(p, kMaxBody);
    boost::beast::error_code ec;
    http::read_header(client, buffer, p, ec);
    if (ec) break;
    while (!ec && !p.is_done()) {
      http::read_some(client, buffer, p, ec);
      if (p.get().body().size() > kMaxBody) std::abort();
    }
    if (ec || !p.keep_alive()) break;
  }
  if (buffer.size() > sidelight::intake::kHttpBufferLimit) std::abort();
  return 0;
}
