// UTF-8 at the boundary: OTLP strings must be valid UTF-8 (an upstream built on Go's protobuf
// refuses a whole request for one bad string, and a JSON encoder cannot write one), while text
// from peers (an upstream's error message, a process's name, a client's bytes quoted in an error)
// is whatever bytes they chose. Checked with the fastest validator this CPU has, chosen once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sidelight::codec {

// Whether every byte is below 0x80, eight at a time. Inline: OTLP strings (attribute keys and
// values, names) are short and nearly always ASCII, and the schema walk checks each one.
inline bool is_ascii(std::string_view text) noexcept {
  const char* p = text.data();
  std::size_t n = text.size();
  auto load = [](const char* at, std::size_t bytes) {
    std::uint64_t word = 0;
    std::memcpy(&word, at, bytes);
    return word;
  };
  std::uint64_t any = 0;
  if (n >= 8) {
    // Whole words, then the last eight bytes again (overlapping) for the tail.
    for (std::size_t i = 0; i + 8 <= n; i += 8)
      any |= load(p + i, 8);
    any |= load(p + n - 8, 8);
  } else if (n >= 4) {
    any = load(p, 4) | load(p + n - 4, 4);
  } else {
    for (std::size_t i = 0; i < n; ++i)
      any |= static_cast<unsigned char>(p[i]);
  }
  return (any & 0x8080808080808080ull) == 0;
}

// The general check, with the validator chosen once for this CPU.
bool is_valid_utf8_slow(std::string_view text) noexcept;

// What the hot path calls: a short ASCII string costs a few instructions, no call.
inline bool is_valid_utf8(std::string_view text) noexcept {
  constexpr std::size_t kShort = 64;
  if (text.size() <= kShort && is_ascii(text)) return true;
  return is_valid_utf8_slow(text);
}

// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD and
// control characters other than tab replaced by a space, cut to at most `max_bytes` (on a
// character boundary, ending in "..." when cut). Peer text made fit for a log line, a status
// page, a JSON document or an OTLP string.
std::string printable_utf8(std::string_view text, std::size_t max_bytes = 512);

}  // namespace sidelight::codec
