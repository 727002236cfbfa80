// Any bytes as an NDJSON stream, fed in pieces of arbitrary sizes (the first byte picks the piece
// size): lines are counted exactly once each, as good or bad. Never a crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "intake/ndjson_server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static sidelight::intake::intake_policy policy;
  static sidelight::intake::intake_counters counters;
  std::uint64_t items = 0;
  sidelight::intake::admission admit(
      policy, [&](sidelight::codec::signal, sidelight::pipeline::chunk c) { items += c.items; },
      counters.of(sidelight::intake::protocol::ndjson));
  sidelight::intake::ndjson_batcher batcher(admit, 4096);
  std::size_t piece = 1 + data[0] % 64;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  sidelight::intake::ndjson_batcher::result r;
  while (!rest.empty()) {
    auto n = std::min(piece, rest.size());
    batcher.feed(rest.substr(0, n), false, {}, r);
    rest.remove_prefix(n);
  }
  batcher.feed({}, true, {}, r);
  if (items != r.items || r.items + r.bad > r.lines) std::abort();
  return 0;
}
