// Any bytes as the text of /proc/PID/stat.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "watch/proc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto st =
      sidelight::watch::parse_stat(1, std::string_view(reinterpret_cast<const char*>(data), size));
  if (st) (void)st->identity();
  return 0;
}
