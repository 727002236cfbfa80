// The reference generated from the key tables: markdown tables between markers, and the `##`
// comment lines of config/sidelight.yaml.
#include "config/reference.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

using namespace sidelight::config;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string without_generated_lines(const std::string& text) {
  std::istringstream lines(text);
  std::string out, line;
  while (std::getline(lines, line)) {
    auto content = line.substr(std::min(line.size(), line.find_first_not_of(' ')));
    bool generated =
        content.starts_with("##") ||
        (content.starts_with("#") && content.find_first_not_of(" ", 1) != std::string::npos &&
         content.substr(content.find_first_not_of(" ", 1)).starts_with("##"));
    if (!generated) out += line + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("the markdown reference replaces only what lies between its markers",
          "[config][reference]") {
  auto r = regenerate_markdown(
      "intro\n<!-- generated: keys begin -->\nOLD-TABLES\n<!-- generated: keys end -->\noutro\n");
  REQUIRE(r.problems.empty());
  CHECK(r.text.starts_with("intro\n<!-- generated: keys begin -->\n\n### Top level\n"));
  CHECK(r.text.ends_with("<!-- generated: keys end -->\noutro\n"));
  CHECK(r.text.find("OLD-TABLES") == std::string::npos);
  CHECK(r.text.find("| `max_concurrent_streams` | count, 1 to 1024 | `4` |") != std::string::npos);
  CHECK(r.text.find("### `exporters.otlp.retry`") != std::string::npos);
  CHECK_FALSE(regenerate_markdown("no markers\n").problems.empty());
}

TEST_CASE("the YAML reference writes each key's comment from its table", "[config][reference]") {
  auto shipped = read_file(SIDELIGHT_SOURCE_DIR "/config/sidelight.yaml");
  REQUIRE_FALSE(shipped.empty());
  // The `##` lines are all generated: without them, the file comes back as it is.
  auto r = regenerate_yaml(without_generated_lines(shipped));
  for (const auto& p : r.problems)
    UNSCOPED_INFO(p);
  REQUIRE(r.problems.empty());
  CHECK(r.text == shipped);
  CHECK(shipped.find("  ## How often each target's state is exported in the steady state.") !=
        std::string::npos);
  // A commented-out key gets its comment inside the comment, as it reads once uncommented.
  CHECK(shipped.find("    # ## HOST:PORT, opt-in loopback TCP, as for otlp_grpc.") !=
        std::string::npos);
}

TEST_CASE("the YAML reference wants a line for every key, and leaves prose alone",
          "[config][reference]") {
  auto r = regenerate_yaml("# Note: prose with a colon\nheartbeat:\n  interval: 15s\n");
  CHECK(r.text.empty());
  bool named = false;
  for (const auto& p : r.problems)
    named = named || p.find("no line for 'heartbeat.discovery_interval'") != std::string::npos;
  CHECK(named);
}
