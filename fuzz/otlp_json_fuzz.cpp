// Any bytes as an OTLP/JSON request body (the first byte picks the signal): refused with a
// message, or a request whose ids all have their proper lengths. Never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "codec/otlp_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto s = static_cast<sidelight::codec::signal>(data[0] % 3);
  auto msg = sidelight::codec::new_request(s);
  auto error = sidelight::codec::from_otlp_json(
      std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), *msg);
  if (error.empty()) (void)sidelight::codec::to_otlp_json(*msg);
  return 0;
}
