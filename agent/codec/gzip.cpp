#include "codec/gzip.hpp"

#include <zlib.h>

#include <new>

namespace sidelight::codec {

namespace {

// zlib's state is released on every way out, an exception included.
struct deflating {
  z_stream z{};
  ~deflating() { deflateEnd(&z); }
};
struct inflating {
  z_stream z{};
  ~inflating() { inflateEnd(&z); }
};

}  // namespace

payload gzip_compress(std::string_view in) {
  deflating d;
  auto& z = d.z;
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::bad_alloc();
  }
  payload out(deflateBound(&z, static_cast<uLong>(in.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);  // the output is deflateBound(): one call finishes
  out.resize(z.total_out);
  out.shrink_to_fit();  // the bound is about the input's size; the output is often a tenth
  if (rc != Z_STREAM_END) throw std::bad_alloc();
  return out;
}

std::string gunzip(std::string_view in, std::uint64_t limit, std::string& out) {
  inflating i;
  auto& z = i.z;
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return "cannot start gzip decoding";
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  out.clear();
  std::string error;
  char buf[64 * 1024];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > limit) {
      error = "too large";
      break;
    }
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK) {
      error = std::string("not valid gzip: ") + (z.msg ? z.msg : "truncated");
      break;
    }
    if (z.avail_in == 0 && z.avail_out != 0) {
      error = "not valid gzip: truncated";
      break;
    }
  }
  return error;
}

}  // namespace sidelight::codec
