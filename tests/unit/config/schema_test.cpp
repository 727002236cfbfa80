// The key table machinery on a table of its own: types, ranges, unknown keys, defaults, nested
// sections, cross-key validation, and what the reference is told.
#include "config/schema.hpp"

#include <catch2/catch.hpp>

using namespace sidelight::config;
using namespace std::chrono_literals;

namespace {

struct gadget {
  enum class color { red, blue };
  struct inner {
    duration wait = 1s;
    bool on = false;
  };
  std::uint64_t count = 3;
  std::uint32_t small = 7;
  std::uint64_t low = 1;
  std::uint64_t high = 2;
  std::string name = "x";
  color hue = color::red;
  std::optional<double> ratio;
  inner nested;
};

const schema::table<gadget::inner>& inner_table() {
  using namespace schema;
  static const table<gadget::inner> keys({
      duration_key("wait", &gadget::inner::wait, "How long.", {.range = {.positive = true}}),
      flag_key("on", &gadget::inner::on, "Whether."),
  });
  return keys;
}

const schema::table<gadget>& gadget_table() {
  using namespace schema;
  static const table<gadget> keys(
      {
          count_key("count", &gadget::count, "How many.", {.range = {.min = 1, .max = 10}}),
          count_key("small", &gadget::small, "Fits in 32 bits."),
          size_key("low", &gadget::low, "At most high."),
          size_key("high", &gadget::high, "At least low."),
          text_key("name", &gadget::name, "Its name.", {.check = not_empty()}),
          choice_key("hue", &gadget::hue,
                     {{"red", gadget::color::red}, {"blue", gadget::color::blue}}, "Its color."),
          number_key("ratio", &gadget::ratio, "A share.", {.range = {.min = 0.0, .max = 1.0}}),
          section_key("nested", &gadget::nested, inner_table(), "Inside."),
      },
      [](const map_view& m, gadget& g) {
        if (g.low > g.high) m.error_at_key("low", "must not be above high");
      });
  return keys;
}

struct outcome {
  gadget value;
  std::vector<std::string> problems;
};

outcome read(const std::string& yaml) {
  outcome out;
  std::vector<problem> problems;
  env_lookup env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  parse_context ctx("t.yaml", env, problems);
  gadget_table().read(ctx, YAML::Load(yaml), "", out.value);
  for (const auto& p : problems)
    out.problems.push_back(format_problem(p));
  return out;
}

std::string only_problem(const std::string& yaml) {
  auto r = read(yaml);
  INFO("document:\n" << yaml);
  REQUIRE(r.problems.size() == 1);
  return r.problems[0];
}

}  // namespace

TEST_CASE("a table leaves the struct's defaults where no key is given", "[config][schema]") {
  auto r = read("");
  CHECK(r.problems.empty());
  CHECK(r.value.count == 3);
  CHECK(r.value.name == "x");
  CHECK(r.value.hue == gadget::color::red);
  CHECK_FALSE(r.value.ratio.has_value());
  CHECK(r.value.nested.wait == duration(1s));
  r = read("count: 5\nnested: { on: true }\n");
  CHECK(r.problems.empty());
  CHECK(r.value.count == 5);
  CHECK(r.value.small == 7);
  CHECK(r.value.nested.on);
  CHECK(r.value.nested.wait == duration(1s));
}

TEST_CASE("a value outside its range is refused with the range and the value", "[config][schema]") {
  CHECK(only_problem("count: 11\n") ==
        "t.yaml:1:8: error: count: must be between 1 and 10, got 11");
  CHECK(only_problem("count: 0\n") == "t.yaml:1:8: error: count: must be between 1 and 10, got 0");
  CHECK(only_problem("ratio: 1.5\n") ==
        "t.yaml:1:8: error: ratio: must be between 0 and 1, got 1.5");
  CHECK(only_problem("nested:\n  wait: 0s\n") ==
        "t.yaml:2:9: error: nested.wait: must be above 0s, got 0s");
  // A count read into a narrower field must fit in it.
  CHECK(only_problem("small: 4294967296\n") ==
        "t.yaml:1:8: error: small: must be at most 4294967295, got 4294967296");
  CHECK(read("count: 11\n").value.count == 3);  // a refused value is not bound
}

TEST_CASE("a value of the wrong type names the type expected", "[config][schema]") {
  CHECK(only_problem("count: many\n") ==
        "t.yaml:1:8: error: count: expected a whole number, got 'many'");
  CHECK(only_problem("count: [1]\n") ==
        "t.yaml:1:8: error: count: expected a whole number, got a list");
  CHECK(only_problem("nested: 5\n") == "t.yaml:1:9: error: nested: expected a mapping, got '5'");
  CHECK(only_problem("nested: { on: maybe }\n") ==
        "t.yaml:1:15: error: nested.on: expected true or false, got 'maybe'");
  CHECK(only_problem("hue: bleu\n") ==
        "t.yaml:1:6: error: hue: expected one of red, blue, got 'bleu'; did you mean 'blue'?");
  CHECK(only_problem("name: ''\n") == "t.yaml:1:7: error: name: must not be empty");
}

TEST_CASE("an unknown key is reported with a did-you-mean and the keys allowed",
          "[config][schema]") {
  CHECK(only_problem("cuont: 2\n") ==
        "t.yaml:1:1: error: cuont: unknown key; did you mean 'count'? (allowed here: count, small, "
        "low, high, name, hue, ratio, nested)");
  CHECK(only_problem("nested: { wiat: 2s }\n") ==
        "t.yaml:1:11: error: nested.wiat: unknown key; did you mean 'wait'? (allowed here: wait, "
        "on)");
  CHECK(only_problem("zzzzzz: 1\n").find("unknown key (allowed here:") != std::string::npos);
  CHECK(only_problem("count: 1\ncount: 2\n") ==
        "t.yaml:2:1: error: count: duplicate key (first given at line 1)");
}

TEST_CASE("validate() sees every key, whatever the order in the file", "[config][schema]") {
  CHECK(only_problem("low: 2KiB\nhigh: 1KiB\n") ==
        "t.yaml:1:1: error: low: must not be above high");
  CHECK(only_problem("high: 1KiB\nlow: 2KiB\n") ==
        "t.yaml:2:1: error: low: must not be above high");
  CHECK(read("high: 2KiB\nlow: 1KiB\n").problems.empty());
}

TEST_CASE("every problem of a section is reported at once", "[config][schema]") {
  auto r = read("count: 0\nhue: green\nnested: { wait: soon, extra: 1 }\n");
  CHECK(r.problems.size() == 4);
}

TEST_CASE("a table tells the reference each key's type, range, default and help",
          "[config][schema]") {
  auto docs = gadget_table().describe(gadget{});
  REQUIRE(docs.size() == 8);
  CHECK(docs[0].name == "count");
  CHECK(docs[0].type == "count");
  CHECK(docs[0].range == "1 to 10");
  CHECK(docs[0].fallback == "3");
  CHECK(docs[0].help == "How many.");
  CHECK(docs[2].fallback == "1B");
  CHECK(docs[4].fallback == "x");
  CHECK(docs[5].type == "one of red, blue");
  CHECK(docs[5].fallback == "red");
  CHECK(docs[6].fallback.empty());  // an unset optional has no default
  CHECK(docs[6].range == "0 to 1");
  REQUIRE(docs[7].form == schema::key_doc::shape::section);
  REQUIRE(docs[7].children.size() == 2);
  CHECK(docs[7].children[0].fallback == "1s");
  CHECK(docs[7].children[0].range == "above 0s");
  CHECK(docs[7].children[1].fallback == "false");
}
