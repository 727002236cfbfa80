// Any bytes as a configuration value with ${env:...} references.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/env_expand.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const sidelight::config::env_lookup env =
      [](const std::string& name) -> std::optional<std::string> {
    if (name == "A") return std::string("${env:A}");
    return std::nullopt;
  };
  (void)sidelight::config::expand_env(std::string_view(reinterpret_cast<const char*>(data), size),
                                      env);
  return 0;
}
