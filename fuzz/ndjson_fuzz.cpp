// Any bytes as one NDJSON intake line: a message or a record, never a crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "intake/ndjson.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static sidelight::intake::ndjson_decoder decoder;
  sidelight::intake::ndjson_line line;
  (void)decoder.decode(std::string_view(reinterpret_cast<const char*>(data), size), line);
  return 0;
}
