// Raw datagrams as the proc connector socket hands them over: decoding never reads outside them.
#include <cstddef>
#include <cstdint>

#include "watch/exit_reason.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto events = sidelight::watch::decode_proc_events(data, size);
  for (const auto& e : events) {
    sidelight::watch::exit_info info;
    info.known = true;
    info.wait_status = static_cast<int>(e.wait_status);
    (void)info.describe();
  }
  (void)sidelight::watch::parse_stat_exit_code(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
