// Any bytes as an OTLP/JSON request body (the first byte picks the signal), decoded twice: by
// the transcoder intake uses (codec::otlp_json_to_wire) and by protobuf's own JSON parser. Never
// a crash; and where both take the text, they must mean the same request, byte for byte once
// serialized: the two cannot disagree on what a client sent.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "codec/otlp_json.hpp"

namespace {

// An empty key ("": ...). protobuf 3.21's JSON parser takes the value of such a key, found inside
// a message, for one of that message's fields (an empty metric turned up in ScopeMetrics): its
// bug, not the transcoder's, which ignores the key as unknown. Such texts are not compared.
bool has_empty_key(std::string_view text) {
  for (auto at = text.find("\"\""); at != std::string_view::npos; at = text.find("\"\"", at + 2)) {
    auto next = text.find_first_not_of(" \t\r\n", at + 2);
    if (next != std::string_view::npos && text[next] == ':') return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto s = static_cast<sidelight::codec::signal>(data[0] % 3);
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string wire;
  auto wire_error = sidelight::codec::otlp_json_to_wire(s, text, 64u << 20, wire);
  auto reference = sidelight::codec::new_request(s);
  auto reference_error = sidelight::codec::from_otlp_json(text, *reference);
  if (!wire_error.empty() || !reference_error.empty() || has_empty_key(text)) return 0;
  // protobuf's parser writes an enum name it does not know as an empty length-delimited field,
  // which then parses as an unknown field; the transcoder leaves such a value out (as OTLP asks of
  // unknown values). Unknown fields are not part of what the request means.
  reference->DiscardUnknownFields();
  auto decoded = sidelight::codec::new_request(s);
  if (!decoded->ParseFromString(wire) ||
      decoded->SerializeAsString() != reference->SerializeAsString()) {
    std::fprintf(stderr, "otlp_json_to_wire and protobuf's JSON parser disagree\n");
    std::abort();
  }
  (void)sidelight::codec::to_otlp_json(*decoded);  // and back, which rewrites its ids in place
  return 0;
}
