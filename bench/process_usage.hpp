// A process's CPU time and memory as the kernel counts them, for the benchmarks.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace sidelight::bench {

struct usage {
  double cpu_seconds = 0;  // utime + stime
  long rss_kib = 0;
  long hwm_kib = 0;  // peak RSS
};

inline usage usage_of(pid_t pid) {
  usage u;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  auto rest = text.substr(text.rfind(')') + 2);
  std::istringstream in(rest);
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  u.cpu_seconds = double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) u.rss_kib = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) u.hwm_kib = std::stol(line.substr(6));
  }
  return u;
}

}  // namespace sidelight::bench
