// What every section of the configuration uses: durations, positions in the file, and OTLP
// attribute values as YAML writes them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sidelight::config {

using duration = std::chrono::nanoseconds;

// An OTLP attribute value as written in YAML: unquoted scalars keep their YAML type.
using attribute_value = std::variant<std::string, bool, std::int64_t, double>;
using attributes = std::vector<std::pair<std::string, attribute_value>>;

struct position {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
};

namespace schema {
template <class S>
class table;  // the keys of one section: config/schema.hpp
class field;  // one key given in a section
struct key_doc;
}  // namespace schema

}  // namespace sidelight::config
