#include "support/harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace sidelight::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::chrono::milliseconds bound(std::chrono::milliseconds base) {
  const char* scale = std::getenv("SIDELIGHT_TEST_TIME_SCALE");
  int factor = scale ? std::atoi(scale) : 1;
  return base * (factor > 0 ? factor : 1);
}

temp_dir::temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "sidelight-test.XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

child::child(std::vector<std::string> argv, const std::string& stderr_path,
             const std::vector<std::string>& env) {
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) {
    std::string_view name(*e, std::strcspn(*e, "="));
    bool overridden = false;
    for (const auto& kv : env)
      overridden |= std::string_view(kv).substr(0, kv.find('=')) == name;
    if (!overridden) envp.push_back(*e);
  }
  for (const auto& kv : env)
    envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!stderr_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 2, 1);
  }
  int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
}

child::child(child&& other) noexcept
    : pid_(other.pid_), reaped_(other.reaped_), status_(other.status_) {
  other.pid_ = -1;
}

child::~child() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void child::kill(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

int child::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(5ms);  // waitpid has no timeout; poll briefly
  }
}

bool child::running() {
  if (reaped_) return false;
  pid_t r = ::waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

std::string sleep_binary(const temp_dir& dir, const std::string& name) {
  auto path = dir / name;
  fs::copy_file("/bin/sleep", path, fs::copy_options::overwrite_existing);
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

void write_file(const std::string& path, const std::string& text) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  fs::rename(tmp, path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string sidelight_binary() {
  // SIDELIGHT_TEST_BINARY runs the tests against another build, such as an older commit's, to
  // see a new test fail there.
  const char* other = std::getenv("SIDELIGHT_TEST_BINARY");
  return other != nullptr && *other != '\0' ? other : SIDELIGHT_BINARY;
}

cli_result run_cli(const temp_dir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), sidelight_binary());
  auto out = dir / "cli-out.txt";
  std::filesystem::remove(out);
  child c(args, out);
  int status = c.wait(bound(10s));
  if (status == -1) return {-1, read_file(out)};
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), read_file(out)};
}

namespace {
std::vector<std::string> agent_argv(const std::string& config) {
  return {sidelight_binary(), "run", "--config", config, "--log-level", "debug"};
}
}  // namespace

agent::agent(const temp_dir& dir, const std::string& yaml, std::vector<std::string> env)
    : config_(dir / "sidelight.yaml"),
      log_(dir / "sidelight.log"),
      admin_(dir / "admin.sock"),
      process_((write_file(config_, yaml.find("admin:") == std::string::npos
                                        ? yaml + "\nadmin: { listen: 'unix:" + admin_ + "' }\n"
                                        : yaml),
                agent_argv(config_)),
               log_, env) {}

agent::~agent() {
  process_.kill(SIGTERM);
  if (process_.wait(5s) == -1) process_.kill(SIGKILL);
}

std::string agent::log() const {
  return read_file(log_);
}

bool agent::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);  // the log is a file: nothing to await but its growth
  }
  return log().find(text) != std::string::npos;
}

}  // namespace sidelight::test
