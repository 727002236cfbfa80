// Durations ("250ms", "15s", "1m30s") and sizes ("64MiB", "512KB", "1024") as written in the
// configuration.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sidelight::config {

// Units: ns, us, µs, ms, s, m, h; several may follow each other ("1m30s"); fractions are allowed
// ("1.5s"). A bare "0" is zero. Negative durations are refused.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

// Units: B, KB/MB/GB (powers of 1000), KiB/MiB/GiB (powers of 1024); a bare number is bytes.
std::optional<std::uint64_t> parse_size(std::string_view text);

std::string format_duration(std::chrono::nanoseconds d);
std::string format_size(std::uint64_t bytes);

}  // namespace sidelight::config
