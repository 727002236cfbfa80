// The codec stage owns the OTLP vocabulary that intake, the pipeline and export share, so that
// none of them depends on another for it: the three signals, the encoded bytes that travel
// (payload: framing pieces and page-mapped buffers), gzip, OTLP/JSON, and UTF-8 at the boundary.
// It does no I/O and keeps no state beyond the payload pool.
#pragma once

#include <string_view>

namespace sidelight::codec {

enum class signal { traces, metrics, logs };
inline constexpr std::size_t kSignals = 3;
std::string_view to_string(signal s);

}  // namespace sidelight::codec
