// Any bytes as an OTLP/gRPC or OTLP/HTTP protobuf request body (the first byte picks the signal,
// and whether Resource*s are split at a small max_chunk_bytes): refused with a message, or split
// into chunks that parse back as a request and hold every item once. Never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "codec/otlp_json.hpp"
#include "intake/otlp_wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto s = static_cast<sidelight::codec::signal>(data[0] % 3);
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  opentelemetry::proto::resource::v1::Resource additions;
  auto* kv = additions.add_attributes();
  kv->set_key("host.name");
  kv->mutable_value()->set_string_value("fuzz");
  std::uint64_t limit = (data[0] & 4) ? 256 : 0;
  auto r = sidelight::intake::split_request(s, body, additions, nullptr, limit);
  if (!r.error.empty()) return 0;
  std::string joined;
  std::uint64_t items = 0;
  for (const auto& c : r.chunks) {
    joined += *c.bytes;
    items += c.items;
  }
  if (items != r.items) std::abort();  // splitting loses and duplicates nothing
  // What was accepted must be a request an upstream can parse.
  auto msg = sidelight::codec::new_request(s);
  if (!msg->ParseFromString(joined)) std::abort();
  return 0;
}
