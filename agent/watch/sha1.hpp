// SHA-1 (FIPS 180-4), for what RFC 9562 defines with it: name-based (version 5) UUIDs, the
// instance ids. Not for anything that needs a secure hash.
//
// Here rather than OpenSSL's because its first EVP call sets up all of OpenSSL (configuration,
// providers, error strings): 23 of the 123 page faults in code that an agent without TLS takes
// at start-up, each mapping 64 KiB around it for as long as the agent runs (perf, page faults).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sidelight::watch {

class sha1 {
 public:
  sha1& update(std::string_view data);
  // The digest of everything given so far; the object is spent afterwards.
  std::array<unsigned char, 20> digest();

 private:
  void block(const unsigned char* p);

  std::array<std::uint32_t, 5> h_ = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  std::array<unsigned char, 64> pending_{};
  std::size_t used_ = 0;
  std::uint64_t length_ = 0;  // bytes
};

}  // namespace sidelight::watch
