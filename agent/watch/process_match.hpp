// Whether a process is an instance of a `process:` target. The facts are read through a probe so
// that the rules are unit-tested without real processes, and so that the costlier reads (exe,
// cmdline) happen only when the cheaper fields already match.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "config/config.hpp"
#include "watch/proc.hpp"

namespace sidelight::watch {

class process_probe {
 public:
  virtual ~process_probe() = default;
  virtual const process_stat& stat() const = 0;
  virtual std::optional<uid_t> owner() = 0;
  virtual std::optional<std::string> exe() = 0;      // nullopt without permission
  virtual std::optional<std::string> cmdline() = 0;  // argv joined by single spaces
};

// Reads the facts from /proc/PID.
class proc_probe final : public process_probe {
 public:
  explicit proc_probe(const process_stat& st) : stat_(st) {}
  const process_stat& stat() const override { return stat_; }
  std::optional<uid_t> owner() override { return read_owner(stat_.pid); }
  std::optional<std::string> exe() override { return read_exe(stat_.pid); }
  std::optional<std::string> cmdline() override { return read_cmdline(stat_.pid); }

 private:
  const process_stat& stat_;
};

// `want` with a '/' is compared with the whole path, else with the base name only.
bool exe_matches(const std::string& want, const std::string& exe);

// All given fields must match; zombies and kernel threads never do. When the executable cannot be
// read (another user's process), argv[0] stands in for it.
bool matches(const config::process_match& m, process_probe& p);

}  // namespace sidelight::watch
