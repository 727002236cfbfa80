// UTF-8 at the boundary: OTLP strings must be valid UTF-8 (an upstream built on Go's protobuf
// refuses a whole request for one bad string, and a JSON encoder cannot write one), while text
// from peers (an upstream's error message, a process's name, a client's bytes quoted in an error)
// is whatever bytes they chose. Checked with the fastest validator this CPU has, chosen once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sidelight::codec {

bool is_valid_utf8(std::string_view text) noexcept;

// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD and
// control characters other than tab replaced by a space, cut to at most `max_bytes` (on a
// character boundary, ending in "..." when cut). Peer text made fit for a log line, a status
// page, a JSON document or an OTLP string.
std::string printable_utf8(std::string_view text, std::size_t max_bytes = 512);

}  // namespace sidelight::codec
