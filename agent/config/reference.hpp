// The configuration reference, generated from the key tables: the key tables of
// docs/CONFIGURATION.md and the comment above each key in config/sidelight.yaml. A test compares
// both files with what this makes of them, so the docs cannot drift from what the loader reads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sidelight::config {

struct regenerated {
  std::string text;                   // the document with its generated parts made anew
  std::vector<std::string> problems;  // why it could not be; `text` is empty then
};

// Markdown: what lies between the lines `<!-- generated: keys begin…` and
// `<!-- generated: keys end -->` becomes one table per section.
regenerated regenerate_markdown(std::string_view document);

// YAML: every key the tables know must have a line in the document, set or commented out
// (`# key: value`, at the key's own indentation after the `# `). Above the first line of each, the
// lines that start with `## ` (after the key line's own indentation and `#`) are made from the
// key's help, type, range and default; every other line is left as it is.
regenerated regenerate_yaml(std::string_view document);

}  // namespace sidelight::config
