// Any bytes as the text of /proc/PID/cgroup: the container id found, if any, is 64 hex digits
// that occur in the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "watch/k8s.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto id = sidelight::watch::container_id_from_cgroup(text);
  if (!id.empty() && (id.size() != 64 || text.find(id) == std::string_view::npos)) std::abort();
  return 0;
}
