// How OTLP/HTTP intake reads a request with Beast, in one place for the server and its fuzz
// target: the bound on the head, on the read buffer (a chunk header with its extensions, or the
// trailers, must fit in it whole: Beast buffers each until its end is seen, and bounds neither),
// and on the body. A large body is a mapping of its own (codec/payload.hpp), not a gap left in
// the heap.
#pragma once

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>

#include "codec/payload.hpp"

namespace sidelight::intake {

inline constexpr std::uint32_t kHttpHeaderLimit = 16 * 1024;
inline constexpr std::size_t kHttpBufferLimit = 64 * 1024;

using http_request_body = boost::beast::http::basic_string_body<char, std::char_traits<char>,
                                                                codec::payload_allocator<char>>;
using http_request_parser = boost::beast::http::request_parser<http_request_body>;

inline void bound_request_parser(http_request_parser& p, std::uint64_t max_body) {
  p.header_limit(kHttpHeaderLimit);
  p.body_limit(max_body);
}

}  // namespace sidelight::intake
