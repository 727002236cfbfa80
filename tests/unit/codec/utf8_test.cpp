#include "codec/utf8.hpp"

#include <catch2/catch.hpp>

using sidelight::codec::is_valid_utf8;
using sidelight::codec::printable_utf8;

TEST_CASE("utf8: well-formed text is valid, malformed text is not", "[utf8]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK(is_valid_utf8(std::string(1000, 'a') + "\xc3\xa9"));  // the long path
  CHECK_FALSE(is_valid_utf8("\xff"));
  CHECK_FALSE(is_valid_utf8("\xc3\x28"));
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // a surrogate
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(is_valid_utf8(std::string(1000, 'a') + "\xe2\x82"));
}

TEST_CASE("utf8: printable_utf8 replaces what is malformed and keeps what is not", "[utf8]") {
  CHECK(printable_utf8("ok \xc3\xa9") == "ok \xc3\xa9");
  CHECK(printable_utf8("\xff\xfe down") == "\xef\xbf\xbd\xef\xbf\xbd down");
  CHECK(printable_utf8("\xc3\x28") == "\xef\xbf\xbd(");
  CHECK(printable_utf8("\xed\xa0\x80") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  CHECK(printable_utf8("line\nbreak\ttab\x01") == "line break\ttab ");
  for (const char* bad : {"\xff", "\xc3\x28", "\xe2\x82", "\xf0\x9f\x98", "\xc0\xaf", "a\x80z"})
    CHECK(is_valid_utf8(printable_utf8(bad)));
}

TEST_CASE("utf8: printable_utf8 cuts long text on a character boundary", "[utf8]") {
  CHECK(printable_utf8(std::string(100, 'x'), 10) == "xxxxxxx...");
  // Each euro sign is 3 bytes: the cut never splits one.
  std::string euros;
  for (int i = 0; i < 10; ++i)
    euros += "\xe2\x82\xac";
  auto cut = printable_utf8(euros, 10);
  CHECK(cut.size() <= 10);
  CHECK(is_valid_utf8(cut));
  CHECK(cut == "\xe2\x82\xac\xe2\x82\xac...");
  CHECK(printable_utf8("short", 10) == "short");
}
