#include "config/units.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <utility>

namespace sidelight::config {
namespace {

// Reads a non-negative decimal number ("15", "1.5") from the front of `text`.
std::optional<double> take_number(std::string_view& text) {
  std::size_t i = 0;
  bool digits = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9')
    ++i, digits = true;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9')
      ++i, digits = true;
  }
  if (!digits) return std::nullopt;
  double value = 0;
  double scale = 0;
  for (std::size_t k = 0; k < i; ++k) {
    if (text[k] == '.') {
      scale = 1;
      continue;
    }
    if (scale > 0) {
      scale /= 10;
      value += (text[k] - '0') * scale;
    } else {
      value = value * 10 + (text[k] - '0');
    }
  }
  text.remove_prefix(i);
  return value;
}

std::string_view take_unit(std::string_view& text) {
  std::size_t i = 0;
  while (i < text.size() && !(text[i] >= '0' && text[i] <= '9') && text[i] != '.')
    ++i;
  auto unit = text.substr(0, i);
  text.remove_prefix(i);
  return unit;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  text = trim(text);
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return std::nullopt;
  constexpr std::array<std::pair<std::string_view, double>, 7> units{{{"ns", 1.0},
                                                                      {"us", 1e3},
                                                                      {"\xC2\xB5s", 1e3},
                                                                      {"ms", 1e6},
                                                                      {"s", 1e9},
                                                                      {"m", 60e9},
                                                                      {"h", 3600e9}}};
  double total = 0;
  while (!text.empty()) {
    auto number = take_number(text);
    if (!number) return std::nullopt;
    auto unit = take_unit(text);
    bool known = false;
    for (const auto& [name, scale] : units) {
      if (unit == name) {
        total += *number * scale;
        known = true;
        break;
      }
    }
    if (!known) return std::nullopt;
  }
  // Beyond ~290 years the value would not fit in int64 nanoseconds.
  if (total > 9.2e18) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(total)));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  text = trim(text);
  auto number = take_number(text);
  if (!number) return std::nullopt;
  auto unit = trim(text);
  constexpr std::array<std::pair<std::string_view, double>, 8> units{{{"", 1.0},
                                                                      {"B", 1.0},
                                                                      {"KB", 1e3},
                                                                      {"MB", 1e6},
                                                                      {"GB", 1e9},
                                                                      {"KiB", 1024.0},
                                                                      {"MiB", 1048576.0},
                                                                      {"GiB", 1073741824.0}}};
  for (const auto& [name, scale] : units) {
    if (unit == name) {
      // Fractions round to the nearest byte: "1.5MiB", "4.8MiB".
      double bytes = std::round(*number * scale);
      if (bytes > 1.8e19) return std::nullopt;
      return static_cast<std::uint64_t>(bytes);
    }
  }
  return std::nullopt;
}

std::string format_duration(std::chrono::nanoseconds d) {
  auto ns = d.count();
  if (ns == 0) return "0s";
  struct unit {
    std::int64_t scale;
    const char* name;
  };
  constexpr std::array<unit, 6> units{{{3600'000'000'000, "h"},
                                       {60'000'000'000, "m"},
                                       {1'000'000'000, "s"},
                                       {1'000'000, "ms"},
                                       {1'000, "us"},
                                       {1, "ns"}}};
  for (const auto& u : units) {
    if (ns % u.scale == 0) return std::to_string(ns / u.scale) + u.name;
  }
  return std::to_string(ns) + "ns";
}

std::string format_size(std::uint64_t bytes) {
  constexpr std::array<std::pair<std::uint64_t, const char*>, 3> units{
      {{1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}}};
  for (const auto& [scale, name] : units) {
    if (bytes >= scale && bytes % scale == 0) return std::to_string(bytes / scale) + name;
  }
  if (bytes >= (1ull << 20)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fMiB", static_cast<double>(bytes) / (1 << 20));
    return buf;
  }
  return std::to_string(bytes) + "B";
}

}  // namespace sidelight::config
