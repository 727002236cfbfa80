// Where a watched process runs, as Kubernetes and container runtimes name it. The pod's identity
// (k8s.pod.name, k8s.pod.uid, k8s.namespace.name, k8s.node.name) comes from environment variables
// that the pod manifest fills in through the downward API; a process's container.id comes from
// its /proc/PID/cgroup, whose path names the container under every common runtime (Docker,
// containerd, CRI-O, podman), with cgroup v1 and v2 alike. Files under /proc are read as any
// other untrusted input: non-blocking, regular files only, and never more than a bound.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace sidelight::watch {

// The downward-API variables read, and the resource attribute each one becomes.
struct pod_variable {
  const char* env;
  const char* attribute;
};
inline constexpr pod_variable kPodVariables[] = {
    {"K8S_POD_NAME", "k8s.pod.name"},
    {"K8S_POD_UID", "k8s.pod.uid"},
    {"K8S_NAMESPACE_NAME", "k8s.namespace.name"},
    {"K8S_NODE_NAME", "k8s.node.name"},
};

// The pod attributes from `getenv`; a variable unset or empty gives no attribute.
config::attributes pod_attributes_from(const std::function<const char*(const char*)>& getenv);
// The same from this process's environment, read once: it does not change while we run.
const config::attributes& pod_attributes();

// The container id (64 hex digits) named in the text of a /proc/PID/cgroup, or "" when the
// process is not in a container (or in one whose cgroup path does not name it: a private cgroup
// namespace shows its own root as "/").
std::string container_id_from_cgroup(std::string_view text);
// container.id of a live process; "" when none or unreadable.
std::string read_container_id(pid_t pid);

// A file under /proc, read by sys::read_file: never blocking, refused unless it is a regular file,
// and refused when it holds more than `limit` bytes.
std::optional<std::string> read_proc_text(const char* path, std::size_t limit);

}  // namespace sidelight::watch
