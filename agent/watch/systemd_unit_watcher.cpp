// `systemd_unit:` targets, found through the unit's cgroup: it works without a D-Bus connection,
// in a container that mounts the host's cgroup filesystem, and with cgroup v1 or v2.
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "sys/bounded_file.hpp"
#include "watch/slot_watchers.hpp"

namespace sidelight::watch {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::vector<std::string> cgroup_roots() {
  if (const char* root = std::getenv("SIDELIGHT_CGROUP_ROOT"); root && *root) return {root};
  std::vector<std::string> roots;
  std::error_code ec;
  if (fs::exists("/sys/fs/cgroup/cgroup.controllers", ec)) roots.push_back("/sys/fs/cgroup");
  for (const char* r : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"}) {
    if (fs::exists(std::string(r) + "/cgroup.procs", ec)) roots.emplace_back(r);
  }
  return roots;
}

// Looks for a directory named `unit` below `dir`, a few levels deep (slices nest).
std::optional<std::string> find_unit_cgroup(const fs::path& dir, const std::string& unit,
                                            int depth) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    auto name = it->path().filename().string();
    if (name == unit) return it->path().string();
    if (depth > 0 && name.ends_with(".slice")) {
      if (auto found = find_unit_cgroup(it->path(), unit, depth - 1)) return found;
    }
  }
  return std::nullopt;
}

std::vector<pid_t> read_procs(const std::string& dir) {
  std::vector<pid_t> pids;
  // A cgroup of a million processes is not a unit to watch: the list is cut at 1 MiB.
  auto read = sys::read_file(dir + "/cgroup.procs", {1 << 20, sys::overflow::truncate});
  std::string_view rest(read.text);
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    pid_t pid = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
    if (ec == std::errc() && pid > 0) pids.push_back(pid);
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return pids;
}

class systemd_unit_watcher final : public slot_watcher {
 public:
  systemd_unit_watcher(watch_context& ctx, const config::target& t, report_handler on_report)
      : slot_watcher(ctx, t, std::move(on_report), liveness_state::policy::follow) {}

 private:
  void evaluate() override {
    auto dir = locate();
    if (!dir) {
      set_down("unit " + target_.systemd_unit + " is not running (no cgroup for it)");
      return;
    }
    auto pids = read_procs(*dir);
    if (pids.empty()) {
      set_down("unit " + target_.systemd_unit + " has no running process");
      return;
    }
    // The main process: the one whose parent is outside the unit; the oldest if there are several.
    std::set<pid_t> members(pids.begin(), pids.end());
    std::optional<process_stat> main;
    for (pid_t pid : pids) {
      auto st = read_stat(pid);
      if (!st || st->zombie() || members.count(st->ppid)) continue;
      if (!main || st->start_ticks < main->start_ticks) main = st;
    }
    if (main) {
      // Keep the process we already follow while it lives: a unit may hold several roots.
      if (auto cur = current_process();
          cur && is_up() && members.count(cur->pid) && is_running(cur->identity())) {
        return;
      }
      if (auto facts = read_process_facts(main->pid)) {
        set_up(*facts);
        return;
      }
    }
    set_down("unit " + target_.systemd_unit + " has no running process");
  }

  std::optional<std::string> locate() {
    std::error_code ec;
    if (!cached_.empty() && fs::exists(cached_, ec)) return cached_;
    cached_.clear();
    // A full search can be costly on a busy host; do it now and then, not at every poll.
    auto now = std::chrono::steady_clock::now();
    if (searched_once_ && now - last_search_ < 10s) {
      for (const auto& root : cgroup_roots()) {
        auto direct = root + "/system.slice/" + target_.systemd_unit;
        if (fs::exists(direct, ec)) return cached_ = direct;
      }
      return std::nullopt;
    }
    searched_once_ = true;
    last_search_ = now;
    for (const auto& root : cgroup_roots()) {
      auto direct = root + "/system.slice/" + target_.systemd_unit;
      if (fs::exists(direct, ec)) return cached_ = direct;
      if (auto found = find_unit_cgroup(root, target_.systemd_unit, 3)) return cached_ = *found;
    }
    return std::nullopt;
  }

  config::duration poll_interval() const override { return is_up() ? 5s : 500ms; }

  std::string cached_;
  bool searched_once_ = false;
  std::chrono::steady_clock::time_point last_search_{};
};

}  // namespace

std::shared_ptr<target_watcher> make_systemd_unit_watcher(watch_context& ctx,
                                                          const config::target& t,
                                                          report_handler on_report) {
  return std::make_shared<systemd_unit_watcher>(ctx, t, std::move(on_report));
}

}  // namespace sidelight::watch
