#include "config/reference.hpp"

#include <map>
#include <optional>

#include "config/schema.hpp"

namespace sidelight::config {
namespace {

using schema::key_doc;

constexpr std::string_view kBegin = "<!-- generated: keys begin";
constexpr std::string_view kEnd = "<!-- generated: keys end -->";
constexpr std::size_t kWidth = 100;

key_doc describe_config() {
  return key_doc{.name = "",
                 .type = "section",
                 .form = key_doc::shape::section,
                 .children = config_table().describe(config{})};
}

// Where a section's keys live: "intake.otlp_grpc", "targets[]" for each item of a list.
std::string prefix_of(const std::string& path, const key_doc& section) {
  return section.form == key_doc::shape::list ? path + "[]" : path;
}

std::string child_path(const std::string& prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
}

std::string type_text(const key_doc& k) {
  return k.range.empty() ? k.type : k.type + ", " + k.range;
}

// Every key by its path, in table order, depth first.
void flatten(const std::string& prefix, const key_doc& section,
             std::vector<std::pair<std::string, const key_doc*>>& out) {
  for (const auto& k : section.children) {
    auto path = child_path(prefix, k.name);
    out.emplace_back(path, &k);
    if (k.form != key_doc::shape::value) flatten(prefix_of(path, k), k, out);
  }
}

// A markdown table cell: no pipes, no line breaks, no angle brackets taken for HTML.
std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '|':
        out += "\\|";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\n':
        out += ' ';
        break;
      default:
        out += c;
    }
  }
  return out;
}

void markdown_section(std::string& out, const std::string& prefix, const key_doc& section) {
  out += "### " + (prefix.empty() ? std::string("Top level") : "`" + prefix + "`") + "\n\n";
  if (!section.help.empty()) out += cell(section.help) + "\n\n";
  out += "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const auto& k : section.children) {
    out += "| `" + k.name + "` | " + cell(type_text(k)) + " | " +
           (k.fallback.empty() ? "—" : "`" + cell(k.fallback) + "`") + " | " + cell(k.help) +
           " |\n";
  }
  out += "\n";
  for (const auto& k : section.children) {
    if (k.form != key_doc::shape::value) {
      markdown_section(out, prefix_of(child_path(prefix, k.name), k), k);
    }
  }
}

// `text` broken into lines of at most `width` characters, at spaces.
std::vector<std::string> wrap(std::string_view text, std::size_t width) {
  std::vector<std::string> lines(1);
  while (!text.empty()) {
    auto space = text.find(' ');
    auto word = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
    if (word.empty()) continue;
    if (!lines.back().empty() && lines.back().size() + 1 + word.size() > width)
      lines.emplace_back();
    if (!lines.back().empty()) lines.back() += ' ';
    lines.back() += word;
  }
  return lines;
}

std::string yaml_comment(const key_doc& k, const std::string& lead) {
  std::string text = k.help;
  if (k.form == key_doc::shape::value) {
    text += " [" + type_text(k) + (k.fallback.empty() ? "" : "; default " + k.fallback) + "]";
  }
  std::string out;
  auto width = kWidth > lead.size() + 13 ? kWidth - lead.size() - 3 : 10;
  for (const auto& line : wrap(text, width))
    out += lead + "## " + line + "\n";
  return out;
}

// One line of the YAML file as the generator sees it.
struct yaml_line {
  bool generated = false;  // a `## ` line: made anew
  bool key = false;        // `key:` or `- key:`, set or commented out
  bool commented = false;
  bool dash = false;
  std::size_t indent = 0;  // of the key, or of the dash; after `# ` for a commented-out line
  std::string name;
  std::string lead;    // what comes before the key (or its dash) on the line
  bool block = false;  // the value is a block scalar (| or >): its lines are not keys
};

bool key_char(char c, bool first) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return alpha || (!first && ((c >= '0' && c <= '9') || c == '.' || c == '/' || c == '-'));
}

std::size_t spaces(std::string_view s) {
  std::size_t n = 0;
  while (n < s.size() && s[n] == ' ')
    ++n;
  return n;
}

yaml_line parse_line(std::string_view line) {
  yaml_line out;
  std::size_t at = spaces(line);  // where the content starts
  out.indent = at;
  if (line.substr(at).starts_with("#")) {
    auto inner = line.substr(at + 1);
    if (inner.substr(spaces(inner)).starts_with("#")) {
      out.generated = true;
      return out;
    }
    // "  #   key:" is the key at indentation 2 + 2: what follows "# " is indented as in YAML.
    out.commented = true;
    at += 1 + (inner.starts_with(" ") ? 1 : 0);
    auto pad = spaces(line.substr(at));
    out.indent += pad;
    at += pad;
  }
  out.lead = std::string(line.substr(0, at));
  auto rest = line.substr(at);
  if (rest.starts_with("- ")) {
    out.dash = true;
    rest = rest.substr(2);
  }
  std::size_t n = 0;
  while (n < rest.size() && key_char(rest[n], n == 0))
    ++n;
  if (n == 0 || n >= rest.size() || rest[n] != ':' || (n + 1 < rest.size() && rest[n + 1] != ' ')) {
    return out;
  }
  out.key = true;
  out.name = std::string(rest.substr(0, n));
  auto value = rest.substr(n + 1);
  value = value.substr(spaces(value));
  out.block = value.starts_with("|") || value.starts_with(">");
  return out;
}

}  // namespace

regenerated regenerate_markdown(std::string_view document) {
  regenerated r;
  auto begin = document.find(kBegin);
  auto end = document.find(kEnd);
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) {
    r.problems.push_back("no '" + std::string(kBegin) + "…' line followed by a '" +
                         std::string(kEnd) + "' line");
    return r;
  }
  auto after_begin = document.find('\n', begin);
  std::string tables;
  markdown_section(tables, "", describe_config());
  r.text = std::string(document.substr(0, after_begin + 1)) + "\n" + tables +
           std::string(document.substr(end));
  return r;
}

}  // namespace sidelight::config

namespace sidelight::config {
namespace {

using open_keys = std::vector<std::pair<std::size_t, std::string>>;  // indentation, name

// "exporters.otlp", "targets[].name": exporters named TYPE/NAME are documented as TYPE.
std::string path_of(const open_keys& open) {
  std::string out;
  for (const auto& [indent, name] : open) {
    if (name == "[]") {
      out += name;
      continue;
    }
    if (!out.empty()) out += '.';
    out += name.substr(0, name.find('/'));
  }
  return out;
}

// The keys open once `l` is read.
open_keys after(open_keys open, const yaml_line& l) {
  while (!open.empty() && open.back().first >= l.indent)
    open.pop_back();
  if (l.dash) open.emplace_back(l.indent, "[]");
  open.emplace_back(l.indent + (l.dash ? 2 : 0), l.name);
  return open;
}

}  // namespace

regenerated regenerate_yaml(std::string_view document) {
  regenerated r;
  auto root = describe_config();
  std::vector<std::pair<std::string, const key_doc*>> keys;
  flatten("", root, keys);
  std::map<std::string, const key_doc*, std::less<>> known(keys.begin(), keys.end());
  std::map<std::string, bool, std::less<>> seen;
  open_keys open;
  std::optional<std::size_t> block;  // inside a block scalar: lines indented deeper than this
  std::string out;
  for (std::size_t pos = 0; pos < document.size();) {
    auto nl = document.find('\n', pos);
    auto line = document.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? document.size() : nl + 1;
    if (block && (spaces(line) == line.size() || spaces(line) > *block)) {
      out += std::string(line) + "\n";
      continue;
    }
    block.reset();
    auto l = parse_line(line);
    if (l.generated) continue;
    if (l.key) {
      auto next = after(open, l);
      auto path = path_of(next);
      auto doc = known.find(path);
      // A commented-out line that names no key is prose, whatever its colon.
      if (!l.commented || doc != known.end()) {
        open = std::move(next);
        if (l.block && !l.commented) block = open.back().first;
        if (doc != known.end() && !seen[path]) {
          seen[path] = true;
          out += yaml_comment(*doc->second, l.lead);
        }
      }
    }
    out += std::string(line) + "\n";
  }
  for (const auto& [path, doc] : keys) {
    if (!seen[path]) {
      r.problems.push_back("no line for '" + path +
                           "': every key is listed, set or commented out (# " + doc->name + ": …)");
    }
  }
  if (r.problems.empty()) r.text = std::move(out);
  return r;
}

}  // namespace sidelight::config
