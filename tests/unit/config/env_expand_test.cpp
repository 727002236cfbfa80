#include "config/env_expand.hpp"

#include <catch2/catch.hpp>
#include <map>

using namespace sidelight::config;

namespace {
env_lookup fake_env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}
}  // namespace

TEST_CASE("env references expand, with defaults for unset variables", "[env]") {
  auto env = fake_env({{"TOKEN", "abc"}, {"EMPTY", ""}});
  CHECK(expand_env("Bearer ${env:TOKEN}", env).value == "Bearer abc");
  CHECK(expand_env("${TOKEN}", env).value == "abc");
  CHECK(expand_env("${env:MISSING:-fallback}", env).value == "fallback");
  CHECK(expand_env("${env:TOKEN:-fallback}", env).value == "abc");
  CHECK(expand_env("${env:EMPTY:-fallback}", env).value == "fallback");
  CHECK(expand_env("a$$b", env).value == "a$b");
  CHECK(expand_env("plain $HOME", env).value == "plain $HOME");
}

TEST_CASE("unset variables without a default are reported", "[env]") {
  auto r = expand_env("x${env:NOPE}y", fake_env({}));
  CHECK(r.value == "xy");
  REQUIRE(r.unset.size() == 1);
  CHECK(r.unset[0] == "NOPE");
}

TEST_CASE("malformed references are errors", "[env]") {
  CHECK_FALSE(expand_env("${env:OPEN", fake_env({})).error.empty());
  CHECK_FALSE(expand_env("${}", fake_env({})).error.empty());
}
