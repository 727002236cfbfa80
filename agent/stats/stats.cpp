#include "stats/stats.hpp"

#include <array>
#include <utility>

namespace sidelight::stats {

namespace {

// UCUM units sidelight uses, by the words Prometheus names them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kUnitWords = {{
    {"By", "bytes"},
    {"s", "seconds"},
    {"ms", "milliseconds"},
    {"us", "microseconds"},
    {"ns", "nanoseconds"},
    {"KiBy", "kibibytes"},
    {"MiBy", "mebibytes"},
    {"%", "percent"},
}};

std::string sanitized(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':';
    // Runs of replaced characters become one '_', as do leading and trailing ones.
    if (!ok) c = '_';
    if (c == '_' && (out.empty() || out.back() == '_')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == '_')
    out.pop_back();
  if (!out.empty() && out.front() >= '0' && out.front() <= '9') out.insert(0, "_");
  return out;
}

std::string unit_word(const metric& m) {
  if (m.unit.empty() || m.unit.front() == '{') return "";
  if (m.unit == "1") return m.type == kind::gauge ? "ratio" : "";
  for (const auto& [ucum, word] : kUnitWords)
    if (m.unit == ucum) return std::string(word);
  return sanitized(m.unit);
}

}  // namespace

std::string prometheus_name(const metric& m) {
  auto name = sanitized(m.name);
  if (auto word = unit_word(m); !word.empty() && !name.ends_with("_" + word)) name += "_" + word;
  if (m.type == kind::counter && !name.ends_with("_total")) name += "_total";
  return name;
}

std::string prometheus_label(std::string_view key) {
  return sanitized(key);
}

}  // namespace sidelight::stats
