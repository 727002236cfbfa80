// Real processes for integration tests: a scratch directory, children to watch and kill, and the
// sidelight binary itself running on a config the test writes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace sidelight::test {

// Bounds for awaiting events. Sanitizer builds run slower: SIDELIGHT_TEST_TIME_SCALE multiplies
// them (scripts/test.sh sets it).
std::chrono::milliseconds bound(std::chrono::milliseconds base);

class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A child process, killed (SIGKILL) and reaped when destroyed.
class child {
 public:
  // `env` ("NAME=value") is added to this process's environment for the child only.
  explicit child(std::vector<std::string> argv, const std::string& stderr_path = "",
                 const std::vector<std::string>& env = {});
  child(child&& other) noexcept;
  child& operator=(child&&) = delete;
  ~child();

  pid_t pid() const { return pid_; }
  void kill(int sig);
  // Waits for the exit and returns the exit status as waitpid() gives it; -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  bool running();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// `sleep 600` under a given comm: a copy of /bin/sleep named `name` in `dir`.
std::string sleep_binary(const temp_dir& dir, const std::string& name);

void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);

// The sidelight binary under test: this build's, or $SIDELIGHT_TEST_BINARY.
std::string sidelight_binary();

// `sidelight ARGS...` run to completion (bounded), with what it printed on stdout and stderr.
struct cli_result {
  int exit_code = -1;  // -1 when it did not finish in time
  std::string output;
};
cli_result run_cli(const temp_dir& dir, std::vector<std::string> args);

// sidelight running on `yaml`, its log in the scratch directory.
class agent {
 public:
  agent(const temp_dir& dir, const std::string& yaml, std::vector<std::string> env = {});
  ~agent();

  pid_t pid() const { return process_.pid(); }
  void signal(int sig) { process_.kill(sig); }
  int wait(std::chrono::milliseconds timeout) { return process_.wait(timeout); }
  bool running() { return process_.running(); }
  std::string log() const;
  // Waits until the log holds `text`; false after the bound.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const;
  const std::string& config_path() const { return config_; }
  // The admin endpoint's address: a Unix socket in the scratch directory unless the test's
  // config sets admin itself (so tests never collide with a sidelight running on 13133).
  std::string admin_address() const { return "unix:" + admin_; }

 private:
  std::string config_;
  std::string log_;
  std::string admin_;
  child process_;
};

}  // namespace sidelight::test
