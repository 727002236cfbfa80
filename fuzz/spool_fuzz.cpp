// Any bytes as a spool segment left by an earlier run (a crash mid-write, a damaged disk): read
// back without a crash, every record it returns whole and within the file, reading stopping at
// the first bad one.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "pipeline/spool.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);  // a torn record is logged; not news here
    return true;
  }();
  (void)quiet;
  static const auto dir = std::filesystem::temp_directory_path() /
                          ("sidelight-fuzz-spool." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / "0000000000000001.seg", std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  sidelight::pipeline::spool::options o;
  o.dir = dir.string();
  std::string error;
  auto s = sidelight::pipeline::spool::open(o, error);
  if (!s) std::abort();
  std::uint64_t total = 0;
  for (const auto& r : s->take_recovered()) {
    auto payload = r->read();
    if (payload.size() != r->length()) std::abort();
    total += 16 + r->length();
  }
  if (total > size) std::abort();
  return 0;
}
