#include "watch/sha1.hpp"

#include <bit>

namespace sidelight::watch {

void sha1::block(const unsigned char* p) {
  std::array<std::uint32_t, 80> w{};
  for (std::size_t t = 0; t < 16; ++t) {
    w[t] = std::uint32_t{p[4 * t]} << 24 | std::uint32_t{p[4 * t + 1]} << 16 |
           std::uint32_t{p[4 * t + 2]} << 8 | std::uint32_t{p[4 * t + 3]};
  }
  for (std::size_t t = 16; t < 80; ++t)
    w[t] = std::rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
  for (std::size_t t = 0; t < 80; ++t) {
    std::uint32_t f = 0;
    std::uint32_t k = 0;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6;
    }
    std::uint32_t next = std::rotl(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = std::rotl(b, 30);
    b = a;
    a = next;
  }
  h_[0] += a;
  h_[1] += b;
  h_[2] += c;
  h_[3] += d;
  h_[4] += e;
}

sha1& sha1::update(std::string_view data) {
  length_ += data.size();
  for (char ch : data) {
    pending_[used_++] = static_cast<unsigned char>(ch);
    if (used_ == pending_.size()) {
      block(pending_.data());
      used_ = 0;
    }
  }
  return *this;
}

std::array<unsigned char, 20> sha1::digest() {
  // Padding: a 1 bit, zeros up to 8 bytes short of a block, then the length in bits.
  std::uint64_t bits = length_ * 8;
  pending_[used_++] = 0x80;
  if (used_ > 56) {
    while (used_ < 64)
      pending_[used_++] = 0;
    block(pending_.data());
    used_ = 0;
  }
  while (used_ < 56)
    pending_[used_++] = 0;
  for (int i = 7; i >= 0; --i)
    pending_[used_++] = static_cast<unsigned char>(bits >> (8 * i));
  block(pending_.data());
  used_ = 0;
  std::array<unsigned char, 20> out{};
  for (std::size_t i = 0; i < 5; ++i) {
    out[4 * i] = static_cast<unsigned char>(h_[i] >> 24);
    out[4 * i + 1] = static_cast<unsigned char>(h_[i] >> 16);
    out[4 * i + 2] = static_cast<unsigned char>(h_[i] >> 8);
    out[4 * i + 3] = static_cast<unsigned char>(h_[i]);
  }
  return out;
}

}  // namespace sidelight::watch
