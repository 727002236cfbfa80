#include "config/loader.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/walk.hpp"

namespace sidelight::config {
namespace {

using namespace std::string_literals;

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

position parse_context::where(const YAML::Node& node) const {
  if (!node.IsDefined()) return {file_, 0, 0};
  auto m = node.Mark();
  if (m.line < 0) return {file_, 0, 0};
  return {file_, m.line + 1, m.column + 1};
}

void parse_context::error(const position& at, const std::string& path, const std::string& message) {
  problems_.push_back(
      {problem::severity::error, at, path.empty() ? message : path + ": " + message});
}

void parse_context::warning(const YAML::Node& at, const std::string& path,
                            const std::string& message) {
  problems_.push_back({problem::severity::warning, where(at), path + ": " + message});
}

std::optional<std::string> parse_context::scalar(const YAML::Node& node, const std::string& path,
                                                 std::string_view expected) {
  if (!node.IsScalar()) {
    error(node, path, "expected "s + std::string(expected) + ", got " + describe(node));
    return std::nullopt;
  }
  auto ex = expand_env(node.Scalar(), env_);
  if (!ex.error.empty()) {
    error(node, path, ex.error);
    return std::nullopt;
  }
  for (const auto& name : ex.unset) {
    warning(node, path, "environment variable " + name + " is not set; using an empty value");
  }
  return ex.value;
}

std::string parse_context::describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    default:
      return "nothing";
  }
}

map_view::map_view(parse_context& ctx, const YAML::Node& node, std::string path,
                   const std::vector<std::string_view>& allowed)
    : ctx_(ctx), node_(node), path_(std::move(path)) {
  if (node.IsNull() || !node.IsDefined()) return;
  if (!node.IsMap()) {
    ctx.error(node, path_, "expected a mapping, got " + parse_context::describe(node));
    valid_ = false;
    return;
  }
  entries_.reserve(node.size());
  for (auto it = node.begin(); it != node.end(); ++it) {
    YAML::Node key = it->first;  // a copy: the iterator hands out temporaries
    if (!key.IsScalar()) {
      ctx.error(key, path_, "keys must be plain strings");
      continue;
    }
    const std::string& name = key.Scalar();
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      auto hint = did_you_mean(name, allowed);
      ctx.error(key, join(name),
                "unknown key" + (hint ? "; did you mean '" + *hint + "'?" : ""s) +
                    " (allowed here: " + join_words(allowed) + ")");
      continue;
    }
    entries_.push_back({name, key, it->second});
  }
  drop_duplicates();
}

// Sorts an index of the keys by name; a key given again is reported and dropped, the first kept.
void map_view::drop_duplicates() {
  by_name_.resize(entries_.size());
  for (std::size_t i = 0; i < by_name_.size(); ++i)
    by_name_[i] = i;
  auto by_name = [this](std::size_t a, std::size_t b) {
    return std::tie(entries_[a].name, a) < std::tie(entries_[b].name, b);
  };
  std::sort(by_name_.begin(), by_name_.end(), by_name);
  std::vector<bool> duplicate(entries_.size());
  for (std::size_t i = 1, first = 0; i < by_name_.size(); ++i) {
    if (entries_[by_name_[i]].name != entries_[by_name_[first]].name) {
      first = i;
      continue;
    }
    const auto& again = entries_[by_name_[i]];
    ctx_.error(again.key, join(again.name),
               "duplicate key (first given at line " +
                   std::to_string(ctx_.where(entries_[by_name_[first]].key).line) + ")");
    duplicate[by_name_[i]] = true;
  }
  if (std::find(duplicate.begin(), duplicate.end(), true) == duplicate.end()) return;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (!duplicate[i]) entries_[kept++] = std::move(entries_[i]);
  }
  entries_.resize(kept);
  drop_duplicates();
}

const map_view::entry* map_view::find(std::string_view key) const {
  auto it =
      std::lower_bound(by_name_.begin(), by_name_.end(), key,
                       [this](std::size_t i, std::string_view k) { return entries_[i].name < k; });
  return it != by_name_.end() && entries_[*it].name == key ? &entries_[*it] : nullptr;
}

YAML::Node map_view::get(std::string_view key) const {
  const auto* e = find(key);
  return e ? e->value : YAML::Node(YAML::NodeType::Undefined);
}

YAML::Node map_view::key_node(std::string_view key) const {
  const auto* e = find(key);
  return e ? e->key : node_;
}

void map_view::error(std::string_view key, const std::string& message) const {
  ctx_.error(has(key) ? get(key) : node_, join(key), message);
}

void map_view::error_at_key(std::string_view key, const std::string& message) const {
  ctx_.error(key_node(key), join(key), message);
}

void map_view::error(const std::string& message) const {
  ctx_.error(node_, path_, message);
}

std::string join_words(const std::vector<std::string_view>& words) {
  std::string out;
  for (auto w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

std::optional<std::string> did_you_mean(std::string_view word,
                                        const std::vector<std::string_view>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (auto c : candidates) {
    auto d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(c);
    }
  }
  return best;
}

std::string format_problem(const problem& p) {
  std::ostringstream out;
  out << p.where.file;
  if (p.where.line > 0) out << ':' << p.where.line << ':' << p.where.column;
  out << (p.level == problem::severity::error ? ": error: " : ": warning: ") << p.message;
  return out.str();
}

std::size_t load_result::error_count() const {
  return std::count_if(problems.begin(), problems.end(),
                       [](const problem& p) { return p.level == problem::severity::error; });
}

load_result load_text(std::string_view yaml, const std::string& source_name,
                      const env_lookup& env) {
  load_result result;
  parse_context ctx(source_name, env, result.problems);
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    result.problems.push_back({problem::severity::error,
                               {source_name, e.mark.line + 1, e.mark.column + 1},
                               "not valid YAML: " + e.msg});
    return result;
  }
  config cfg = read_config(ctx, doc);
  std::stable_sort(
      result.problems.begin(), result.problems.end(), [](const problem& a, const problem& b) {
        return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
      });
  if (result.error_count() == 0) result.value = std::move(cfg);
  return result;
}

load_result load_file(const std::string& path, const env_lookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    load_result result;
    result.problems.push_back(
        {problem::severity::error,
         {path, 0, 0},
         "cannot read the configuration file: " + std::string(std::strerror(errno))});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_text(text.str(), path, env);
}

}  // namespace sidelight::config
