// Any bytes as a duration or a size; what parses must format and parse back to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/units.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto d = sidelight::config::parse_duration(text)) {
    auto again = sidelight::config::parse_duration(sidelight::config::format_duration(*d));
    if (!again) std::abort();
  }
  if (auto s = sidelight::config::parse_size(text)) {
    auto again = sidelight::config::parse_size(sidelight::config::format_size(*s));
    if (!again) std::abort();
  }
  return 0;
}
