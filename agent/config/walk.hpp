// Walking a YAML document for the config stage: positions (file:line:column), `${env:…}`
// expansion of scalars, mappings checked against the keys a table allows (unknown keys get a
// did-you-mean, duplicates are reported), and every problem collected instead of the first one
// thrown. Implemented in loader.cpp. Only the config stage includes it: it brings yaml-cpp along.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"

namespace sidelight::config {

// Where problems go while one file is read, and how scalars get their `${env:…}` expanded.
class parse_context {
 public:
  parse_context(std::string file, const env_lookup& env, std::vector<problem>& problems)
      : file_(std::move(file)), env_(env), problems_(problems) {}

  position where(const YAML::Node& node) const;
  void error(const position& at, const std::string& path, const std::string& message);
  void error(const YAML::Node& at, const std::string& path, const std::string& message) {
    error(where(at), path, message);
  }
  void warning(const YAML::Node& at, const std::string& path, const std::string& message);

  // The scalar's text with variables expanded; reports "expected <expected>, got …" and returns
  // nullopt when `node` is not a scalar, or when the expansion is malformed.
  std::optional<std::string> scalar(const YAML::Node& node, const std::string& path,
                                    std::string_view expected);

  // "a mapping", "a list", "'text'"…: what a problem says was found instead.
  static std::string describe(const YAML::Node& node);

  const std::string& file() const { return file_; }
  const env_lookup& env() const { return env_; }

 private:
  std::string file_;
  const env_lookup& env_;
  std::vector<problem>& problems_;
};

// One YAML mapping whose keys are checked against what a table allows: unknown keys are reported
// with a did-you-mean, duplicate keys are reported, a null node reads as empty. Lookups go
// through a sorted index, so a mapping of n keys costs O(n log n) whatever is asked of it.
class map_view {
 public:
  struct entry {
    std::string name;
    YAML::Node key;
    YAML::Node value;
  };

  // `allowed` empty: any key (a free-form map such as resource attributes).
  map_view(parse_context& ctx, const YAML::Node& node, std::string path,
           const std::vector<std::string_view>& allowed);

  bool valid() const { return valid_; }
  bool has(std::string_view key) const { return find(key) != nullptr; }
  YAML::Node get(std::string_view key) const;                     // undefined when absent
  YAML::Node key_node(std::string_view key) const;                // the mapping itself when absent
  const std::vector<entry>& entries() const { return entries_; }  // in file order
  std::string join(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  parse_context& ctx() const { return ctx_; }

  // A problem with `key`'s value (or with the mapping when the key is absent), named path.key.
  void error(std::string_view key, const std::string& message) const;
  // A problem with `key` itself, pointed at where the key is written.
  void error_at_key(std::string_view key, const std::string& message) const;
  // A problem with the mapping as a whole.
  void error(const std::string& message) const;

 private:
  const entry* find(std::string_view key) const;
  void drop_duplicates();

  parse_context& ctx_;
  YAML::Node node_;
  std::string path_;
  bool valid_ = true;
  std::vector<entry> entries_;
  std::vector<std::size_t> by_name_;  // entries_ sorted by name: one allocation, not one a key
};

// "a, b, c"
std::string join_words(const std::vector<std::string_view>& words);

// The whole document through the top-level table, with the OTEL_* variables (config.cpp).
config read_config(parse_context& ctx, const YAML::Node& doc);

}  // namespace sidelight::config
