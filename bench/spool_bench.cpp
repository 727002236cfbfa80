// Appends to an on-disk spool from several threads at once, as intake threads do when clients
// send to a spooled exporter together: appends per second, with and without fsync.
//
//   build/bin/sidelight_spool_bench [--threads 8] [--appends 2000] [--bytes 4096] [--fsync]
//                                   [--dir /var/tmp]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pipeline/spool.hpp"

int main(int argc, char** argv) {
  int threads = 8;
  int appends = 2000;
  std::size_t bytes = 4096;
  bool fsync = false;
  std::string base = "/var/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--threads")
      threads = std::atoi(next().c_str());
    else if (a == "--appends")
      appends = std::atoi(next().c_str());
    else if (a == "--bytes")
      bytes = static_cast<std::size_t>(std::atol(next().c_str()));
    else if (a == "--fsync")
      fsync = true;
    else if (a == "--dir")
      base = next();
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  auto dir = std::filesystem::path(base) / ("sidelight-spool-bench." + std::to_string(::getpid()));
  sidelight::pipeline::spool::options o;
  o.dir = dir.string();
  o.fsync = fsync;
  std::string error;
  auto s = sidelight::pipeline::spool::open(o, error);
  if (!s) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::string payload(bytes, 'p');
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < appends; ++i)
        s->append(payload, 1);  // released at once, as if delivered
    });
  }
  for (auto& t : pool)
    t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto total = static_cast<double>(threads) * appends;
  std::printf("%d threads x %d appends of %zu bytes%s: %.0f appends/s (%.2f s), %llu errors\n",
              threads, appends, bytes, fsync ? ", fsync" : "", total / seconds, seconds,
              static_cast<unsigned long long>(s->append_errors()));
  s.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
