#include "watch/sha1.hpp"

#include <openssl/evp.h>

#include <catch2/catch.hpp>
#include <string>

#include "watch/watch.hpp"

namespace {

std::string hex(const std::array<unsigned char, 20>& d) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string of(std::string_view data) {
  return hex(sidelight::watch::sha1().update(data).digest());
}

std::string openssl_sha1(std::string_view data) {
  std::array<unsigned char, 20> d{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &length, EVP_sha1(), nullptr);
  return hex(d);
}

}  // namespace

TEST_CASE("SHA-1 gives the FIPS 180 example digests", "[sha1]") {
  CHECK(of("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(of("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  CHECK(of(std::string(1000000, 'a')) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("SHA-1 agrees with OpenSSL at every length around the block and padding edges",
          "[sha1]") {
  std::string data;
  for (int n = 0; n <= 300; ++n) {
    INFO("length " << n);
    CHECK(of(data) == openssl_sha1(data));
    sidelight::watch::sha1 split;  // the same bytes in two updates
    split.update(std::string_view(data).substr(0, n / 3))
        .update(std::string_view(data).substr(n / 3));
    CHECK(hex(split.digest()) == openssl_sha1(data));
    data += static_cast<char>(n * 37 + 11);
  }
}

TEST_CASE("instance ids are RFC 9562 name-based UUIDs, unchanged from earlier releases", "[sha1]") {
  // Python: uuid.uuid5(UUID("6b1e4c2a-930f-4d57-a18e-2c5b7d9031e4"), "web-1\x1fcheckout")
  CHECK(sidelight::watch::make_instance_id("web-1", "checkout", std::nullopt) ==
        "7e713ff3-3f40-5793-8fbf-ec34cab50e64");
  CHECK(sidelight::watch::make_instance_id(std::string(100, 'h'), std::string(60, 't'),
                                           std::nullopt) == "abef686e-2639-5b7a-8ce7-7a27bf76ce64");
}
