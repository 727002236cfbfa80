#include "config/schema.hpp"

#include <charconv>
#include <cstdio>
#include <unordered_map>

#include "config/units.hpp"

namespace sidelight::config::schema {
namespace {

// Unquoted YAML scalars keep their type (true, 42, 1.5); quoted ones are strings.
attribute_value typed_scalar(const YAML::Node& node, const std::string& text) {
  if (node.Tag() == "!") return text;
  if (text == "true") return true;
  if (text == "false") return false;
  std::int64_t i = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
  if (ec == std::errc() && p == text.data() + text.size() && !text.empty()) return i;
  if (!text.empty() && text.find_first_not_of("+-0123456789.eE") == std::string::npos) {
    double d = 0;
    auto [q, ec2] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec2 == std::errc() && q == text.data() + text.size()) return d;
  }
  return text;
}

// Adds the keys of a map to `out`; a key `out` holds already (from the environment, say) is
// replaced in place. The map's own keys are unique (map_view drops duplicates), so only what `out`
// held before is indexed: loading n keys stays O(n), with no allocation a key.
template <class V, class Read>
void merge(const map_view& m, std::vector<std::pair<std::string, V>>& out, Read read) {
  // Reserve first: the index holds views of the keys, which a reallocation would move (short
  // strings live inside the element).
  out.reserve(out.size() + m.entries().size());
  std::unordered_map<std::string_view, std::size_t> before;
  for (std::size_t i = 0; i < out.size(); ++i)
    before.try_emplace(out[i].first, i);
  for (const auto& e : m.entries()) {
    auto value = read(e);
    if (!value) continue;
    if (auto at = before.find(e.name); at != before.end()) {
      out[at->second].second = std::move(*value);
    } else {
      out.emplace_back(e.name, std::move(*value));
    }
  }
}

template <class T>
std::optional<T> whole(const std::string& text, int base = 10) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<bool> flag_type::parse(const std::string& text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

std::optional<duration> duration_type::parse(const std::string& text) {
  return parse_duration(text);
}
std::string duration_type::show(duration v) {
  return format_duration(v);
}

std::optional<std::uint64_t> size_type::parse(const std::string& text) {
  return parse_size(text);
}
std::string size_type::show(std::uint64_t v) {
  return v == 0 ? "0" : format_size(v);
}

std::optional<std::uint64_t> count_type::parse(const std::string& text) {
  return whole<std::uint64_t>(text);
}

std::optional<double> number_type::parse(const std::string& text) {
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}
std::string number_type::show(double v) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, p) : std::to_string(v);
}

std::optional<std::uint32_t> mode_type::parse(const std::string& text) {
  auto v = whole<unsigned>(text, 8);
  if (!v || *v > 0777) return std::nullopt;
  return *v;
}
std::string mode_type::show(std::uint32_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", v);
  return buf;
}

text_check absolute(std::string_view what) {
  return [what = std::string(what)](const std::string& text) -> std::string {
    if (text.starts_with("/")) return "";
    return "expected an absolute " + what + ", got '" + text + "'";
  };
}

text_check socket_path() {
  return [](const std::string& text) -> std::string {
    if (!text.starts_with("/")) return "expected an absolute socket path, got '" + text + "'";
    if (text.size() >= 108) return "a socket path must be shorter than 108 bytes";
    return "";
  };
}

text_check not_empty() {
  return [](const std::string& text) -> std::string {
    return text.empty() ? "must not be empty" : "";
  };
}

void read_attributes(const field& f, attributes& out) {
  auto& ctx = f.ctx();
  map_view m(ctx, f.node(), f.path(), {});
  if (!m.valid()) return;
  merge(m, out, [&](const map_view::entry& e) -> std::optional<attribute_value> {
    if (!e.value.IsScalar()) {
      ctx.error(e.value, m.join(e.name),
                "expected a string, number or boolean, got " + parse_context::describe(e.value));
      return std::nullopt;
    }
    auto text = ctx.scalar(e.value, m.join(e.name), "a value");
    if (!text) return std::nullopt;
    return typed_scalar(e.value, *text);
  });
}

void read_string_map(const field& f, std::vector<std::pair<std::string, std::string>>& out) {
  auto& ctx = f.ctx();
  map_view m(ctx, f.node(), f.path(), {});
  if (!m.valid()) return;
  merge(m, out,
        [&](const map_view::entry& e) { return ctx.scalar(e.value, m.join(e.name), "a string"); });
}

}  // namespace sidelight::config::schema
