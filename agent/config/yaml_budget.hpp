// A YAML document's cost checked before yaml-cpp builds it: each node costs yaml-cpp about
// 470 bytes, so a 10 MB flow sequence of numbers took 2.3 GB and 8.6 s to load, and aliases to
// aliases ("billion laughs") make a small file name an endless one for whoever walks it. The
// document is scanned as a stream of events, which holds no tree, and every alias counts the
// nodes it stands for.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace sidelight::config {

// More nodes than any real configuration (a resource of 40,000 keys is 80,000).
inline constexpr std::size_t kMaxYamlNodes = 250'000;

struct yaml_overrun {
  position where;  // where the budget ran out
  std::string message;
};

// nullopt when the document (aliases expanded) has at most `max_nodes` nodes, or when it is not
// valid YAML (the loader reports that itself).
std::optional<yaml_overrun> check_yaml_budget(std::string_view yaml, const std::string& source,
                                              std::size_t max_nodes = kMaxYamlNodes);

}  // namespace sidelight::config
