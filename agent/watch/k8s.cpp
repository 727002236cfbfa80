#include "watch/k8s.hpp"

#include <cstdio>
#include <cstdlib>

#include "sys/bounded_file.hpp"

namespace sidelight::watch {
namespace {

// A cgroup file names at most a few dozen hierarchies; a longer one is not what the kernel wrote.
constexpr std::size_t kCgroupLimit = 64 * 1024;
constexpr std::size_t kIdLength = 64;

// Runtimes put the id after one of these in a cgroup path component (systemd drivers add
// ".scope"); cgroupfs drivers use the bare id as the component.
constexpr std::string_view kIdPrefixes[] = {"docker-", "cri-containerd-", "crio-", "libpod-",
                                            "containerd-"};

bool is_hex_id(std::string_view s) {
  if (s.size() != kIdLength) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// One path component: "docker-<id>.scope", "cri-containerd-<id>.scope", "crio-<id>.scope",
// "libpod-<id>.scope", "libpod-<id>", "<id>". The monitors that runtimes run beside a container
// ("crio-conmon-<id>.scope", "libpod-conmon-<id>.scope") are not the container.
std::string_view id_of_component(std::string_view c) {
  if (c.ends_with(".scope")) c.remove_suffix(6);
  for (auto prefix : kIdPrefixes) {
    if (c.starts_with(prefix)) {
      c.remove_prefix(prefix.size());
      break;
    }
  }
  return is_hex_id(c) ? c : std::string_view();
}

// The innermost component of a cgroup path that names a container: a container may nest cgroups
// of its own below the one its runtime made ("…/docker-<id>.scope/init.scope").
std::string_view id_of_path(std::string_view path) {
  while (!path.empty()) {
    auto slash = path.rfind('/');
    auto component = slash == std::string_view::npos ? path : path.substr(slash + 1);
    if (auto id = id_of_component(component); !id.empty()) return id;
    if (slash == std::string_view::npos) break;
    path = path.substr(0, slash);
  }
  return {};
}

}  // namespace

config::attributes pod_attributes_from(const std::function<const char*(const char*)>& getenv) {
  config::attributes out;
  for (const auto& v : kPodVariables) {
    const char* value = getenv(v.env);
    if (value && *value) out.emplace_back(v.attribute, std::string(value));
  }
  return out;
}

const config::attributes& pod_attributes() {
  static const config::attributes attrs =
      pod_attributes_from([](const char* name) { return std::getenv(name); });
  return attrs;
}

std::string container_id_from_cgroup(std::string_view text) {
  // Each line is "hierarchy-ID:controller-list:cgroup-path" (v2: "0::path"). A path may hold ':'.
  while (!text.empty()) {
    auto eol = text.find('\n');
    auto line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    auto first = line.find(':');
    if (first == std::string_view::npos) continue;
    auto second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    if (auto id = id_of_path(line.substr(second + 1)); !id.empty()) return std::string(id);
  }
  return "";
}

std::string read_container_id(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/cgroup", static_cast<int>(pid));
  auto text = read_proc_text(path, kCgroupLimit);
  return text ? container_id_from_cgroup(*text) : std::string();
}

std::optional<std::string> read_proc_text(const char* path, std::size_t limit) {
  auto r = sys::read_file(path, {limit, sys::overflow::refuse, true});
  if (!r.ok()) return std::nullopt;
  return std::move(r.text);
}

}  // namespace sidelight::watch
