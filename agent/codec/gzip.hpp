// gzip (RFC 1952) both ways, with zlib: exporters compress what they send, intake inflates what
// clients send.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "codec/payload.hpp"

namespace sidelight::codec {

// The gzip member of `in`, compressed at zlib's fastest level.
payload gzip_compress(std::string_view in);

// Inflates a gzip body into `out`, refusing to grow past `limit` bytes. Error text or empty.
std::string gunzip(std::string_view in, std::uint64_t limit, std::string& out);

}  // namespace sidelight::codec
