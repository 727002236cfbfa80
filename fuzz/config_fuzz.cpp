// Any bytes as a configuration file: problems are reported, nothing crashes or hangs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const sidelight::config::env_lookup env =
      [](const std::string& name) -> std::optional<std::string> {
    if (name == "SET") return std::string("value");
    return std::nullopt;
  };
  auto result = sidelight::config::load_text(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml", env);
  for (const auto& p : result.problems)
    (void)sidelight::config::format_problem(p);
  return 0;
}
