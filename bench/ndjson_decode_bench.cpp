// The NDJSON decoder alone: lines decoded into OTLP LogRecords per CPU-second, on the structured
// log line of tests/unit/ndjson_test.cpp (230 bytes). Not the end-to-end intake figure (no socket,
// no export).
//
//   sidelight_ndjson_decode_bench [LINES]
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "intake/ndjson.hpp"

namespace {
double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
}  // namespace

int main(int argc, char** argv) {
  long lines = argc > 1 ? std::atol(argv[1]) : 2'000'000;
  const std::string line =
      R"({"timestamp":"2024-03-15T10:23:45.123Z","level":"error","service":"order-service",)"
      R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",)"
      R"("message":"Failed to process order","order_id":"12345","duration_ms":234})";
  sidelight::intake::ndjson_decoder decoder;
  sidelight::intake::ndjson_line out;
  std::size_t bytes = 0;
  double start = cpu_seconds();
  for (long i = 0; i < lines; ++i) {
    if (!decoder.decode(line, out).empty()) return 1;
    bytes += out.log.ByteSizeLong();
  }
  double cpu = cpu_seconds() - start;
  std::printf(
      "ndjson decode: %ld lines of %zu bytes in %.2f CPU-s = %.0f lines per CPU-second "
      "(%.1f MB/s of input); %zu bytes of LogRecord out\n",
      lines, line.size(), cpu, static_cast<double>(lines) / cpu,
      static_cast<double>(lines) * static_cast<double>(line.size()) / cpu / 1e6, bytes);
  return 0;
}
