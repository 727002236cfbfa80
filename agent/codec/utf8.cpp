#include "codec/utf8.hpp"

#include <simdjson.h>

namespace sidelight::codec {

namespace {

// Length of the well-formed UTF-8 sequence at the start of `s`, or 0 (RFC 3629: no overlongs,
// no surrogates, nothing above U+10FFFF).
std::size_t sequence_length(std::string_view s) noexcept {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xc0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xe0 && b(1) < 0xa0) return 0;  // overlong
    if (c == 0xed && b(1) > 0x9f) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xf0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xf4 && b(1) > 0x8f) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

bool is_valid_utf8_slow(std::string_view text) noexcept {
  static const simdjson::implementation* const impl = simdjson::get_active_implementation();
  return impl->validate_utf8(text.data(), text.size());
}

std::string printable_utf8(std::string_view text, std::size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xef\xbf\xbd";
  static constexpr std::string_view kCut = "...";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  while (!text.empty()) {
    auto n = sequence_length(text);
    std::string_view piece = n == 0 ? kReplacement : text.substr(0, n);
    std::string one;
    if (n == 1 && (static_cast<unsigned char>(text[0]) < 0x20 || text[0] == 0x7f)) {
      one = text[0] == '\t' ? "\t" : " ";
      piece = one;
    }
    if (out.size() + piece.size() > max_bytes) {
      while (!out.empty() && out.size() + kCut.size() > max_bytes) {
        // Drop the last whole character: its continuation bytes, then its first byte.
        while ((static_cast<unsigned char>(out.back()) & 0xc0) == 0x80)
          out.pop_back();
        out.pop_back();
      }
      if (max_bytes >= kCut.size()) out += kCut;
      return out;
    }
    out += piece;
    text.remove_prefix(n == 0 ? 1 : n);
  }
  return out;
}

}  // namespace sidelight::codec
