// Kubernetes and container identity: container.id from /proc/PID/cgroup as each runtime writes it,
// the pod's attributes from the downward-API environment, the per-target container_name, and the
// sidecar's readiness that leaves the upstream out.
#include "watch/k8s.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>

#include "admin/admin_server.hpp"
#include "config/loader.hpp"
#include "heartbeat/metrics_builder.hpp"

using namespace sidelight;

namespace {

const std::string kId = "3f1e8c2a9b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f";

std::map<std::string, std::string> attributes_of(
    const opentelemetry::proto::resource::v1::Resource& r) {
  std::map<std::string, std::string> out;
  for (const auto& kv : r.attributes())
    out[kv.key()] = kv.value().string_value();
  return out;
}

}  // namespace

TEST_CASE("container.id from every runtime's cgroup path, v1 and v2", "[k8s]") {
  const std::pair<const char*, std::string> cases[] = {
      // Docker, cgroupfs driver (cgroup v1)
      {"docker v1", "12:memory:/docker/" + kId + "\n11:pids:/docker/" + kId + "\n"},
      // Docker, systemd driver (cgroup v2)
      {"docker v2", "0::/system.slice/docker-" + kId + ".scope\n"},
      // containerd under Kubernetes, cgroupfs driver (v1)
      {"containerd v1",
       "4:cpu,cpuacct:/kubepods/burstable/pod0f3c2d1e-aaaa-bbbb-cccc-123456789abc/" + kId + "\n"},
      // containerd under Kubernetes, systemd driver (v2)
      {"containerd v2",
       "0::/kubepods.slice/kubepods-besteffort.slice/"
       "kubepods-besteffort-pod0f3c2d1e_aaaa_bbbb_cccc_123456789abc.slice/cri-containerd-" +
           kId + ".scope\n"},
      // A sibling container seen from our own private cgroup namespace (v2): relative to our root
      {"containerd v2, another namespace", "0::/../cri-containerd-" + kId + ".scope\n"},
      // CRI-O (v2)
      {"cri-o", "0::/kubepods.slice/kubepods-pod1.slice/crio-" + kId + ".scope\n"},
      // podman, systemd driver, with systemd running inside the container
      {"podman systemd", "0::/machine.slice/libpod-" + kId + ".scope/container\n"},
      // podman, cgroupfs driver (v1), hybrid: the v2 line names nothing, a v1 line does
      {"podman cgroupfs", "0::/\n4:memory:/libpod_parent/libpod-" + kId + "\n1:name=systemd:/\n"},
      // A path that itself holds ':'
      {"colon in path", "1:name=systemd:/odd:dir/docker-" + kId + ".scope\n"},
  };
  for (const auto& [what, text] : cases) {
    INFO(what);
    CHECK(watch::container_id_from_cgroup(text) == kId);
  }
}

TEST_CASE("no container.id outside a container or where the path names none", "[k8s]") {
  CHECK(watch::container_id_from_cgroup("").empty());
  CHECK(watch::container_id_from_cgroup("0::/\n").empty());
  CHECK(
      watch::container_id_from_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n").empty());
  // The runtime's monitor beside a container is not the container.
  CHECK(watch::container_id_from_cgroup("0::/machine.slice/libpod-conmon-" + kId + ".scope\n")
            .empty());
  CHECK(
      watch::container_id_from_cgroup("0::/system.slice/crio-conmon-" + kId + ".scope\n").empty());
  // Not 64 lowercase hex digits.
  CHECK(watch::container_id_from_cgroup("0::/docker/" + kId.substr(1) + "\n").empty());
  CHECK(watch::container_id_from_cgroup("0::/docker/" + kId + "0\n").empty());
  std::string upper = kId;
  upper[0] = 'F';
  CHECK(watch::container_id_from_cgroup("0::/docker/" + upper + "\n").empty());
  // Lines without the two colons are skipped, not misread.
  CHECK(watch::container_id_from_cgroup("garbage\n" + kId + "\n").empty());
  CHECK(watch::container_id_from_cgroup("garbage\n0::/docker/" + kId) == kId);
}

TEST_CASE("this process's cgroup file reads within its bound", "[k8s]") {
  auto text = watch::read_proc_text("/proc/self/cgroup", 64 * 1024);
  REQUIRE(text);
  CHECK(text->find(':') != std::string::npos);
  // Whatever it says, reading it by PID gives the same answer.
  CHECK(watch::read_container_id(::getpid()) == watch::container_id_from_cgroup(*text));
}

TEST_CASE("/proc reads refuse what is not a regular file, and what is over the bound", "[k8s]") {
  CHECK_FALSE(watch::read_proc_text("/proc/self", 4096));  // a directory
  CHECK_FALSE(watch::read_proc_text("/proc/self/does-not-exist", 4096));
  CHECK_FALSE(watch::read_proc_text("/proc/self/cmdline", 1));  // over the bound
  char dir[] = "/tmp/sidelight-k8s-test.XXXXXX";
  REQUIRE(::mkdtemp(dir));
  std::string fifo = std::string(dir) + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // A FIFO with no writer would block a plain open(); it is refused at once instead.
  CHECK_FALSE(watch::read_proc_text(fifo.c_str(), 4096));
  std::string file = std::string(dir) + "/f";
  std::ofstream(file) << "abc";
  CHECK(watch::read_proc_text(file.c_str(), 3) == std::optional<std::string>("abc"));
  CHECK_FALSE(watch::read_proc_text(file.c_str(), 2));
  ::unlink(fifo.c_str());
  ::unlink(file.c_str());
  ::rmdir(dir);
}

TEST_CASE("the pod's attributes come from the downward-API variables", "[k8s]") {
  std::map<std::string, std::string> env = {{"K8S_POD_NAME", "checkout-7d9f-x2"},
                                            {"K8S_POD_UID", "0f3c2d1e-aaaa-bbbb-cccc-123456789abc"},
                                            {"K8S_NAMESPACE_NAME", "shop"},
                                            {"K8S_NODE_NAME", ""}};
  auto attrs = watch::pod_attributes_from([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  std::map<std::string, std::string> got;
  for (const auto& [k, v] : attrs)
    got[k] = std::get<std::string>(v);
  // An empty variable (no node name) is no attribute.
  CHECK(got ==
        std::map<std::string, std::string>{{"k8s.pod.name", "checkout-7d9f-x2"},
                                           {"k8s.pod.uid", "0f3c2d1e-aaaa-bbbb-cccc-123456789abc"},
                                           {"k8s.namespace.name", "shop"}});
  CHECK(watch::pod_attributes_from([](const char*) { return nullptr; }).empty());
}

TEST_CASE("a target's container_name and its process's container.id reach its Resource", "[k8s]") {
  auto loaded = config::load_text(
      "targets:\n  - name: app\n    process: { comm: python3 }\n    container_name: app-1\n",
      "t.yaml", [](const std::string&) { return std::optional<std::string>(); });
  REQUIRE(loaded.ok());
  const auto& target = loaded.value->targets.at(0);
  CHECK(target.container_name == "app-1");
  watch::instance_report r;
  r.target = "app";
  r.instance_id = "i";
  r.up = true;
  watch::process_facts p;
  p.pid = 7;
  p.executable_name = "python3";
  p.container_id = kId;
  r.process = p;
  heartbeat::metrics_builder b(*loaded.value, "pod-host", 1);
  auto attrs = attributes_of(b.resource_of(target, r));
  CHECK(attrs["container.id"] == kId);
  CHECK(attrs["k8s.container.name"] == "app-1");
  // No container: no container.id, and no empty attribute.
  r.process->container_id.clear();
  CHECK(attributes_of(b.resource_of(target, r)).count("container.id") == 0);
}

TEST_CASE("container_name must be a Kubernetes container name", "[k8s]") {
  for (const char* bad : {"App", "-app", "app-", "a_b", "\"\""}) {
    INFO(bad);
    auto r = config::load_text(
        std::string("targets:\n  - name: app\n    pid: 1\n    container_name: ") + bad + "\n",
        "t.yaml", [](const std::string&) { return std::optional<std::string>(); });
    REQUIRE(r.problems.size() == 1);
    CHECK(config::format_problem(r.problems[0]) ==
          "t.yaml:4:21: error: targets[0].container_name: expected a Kubernetes container name: "
          "at most 63 lowercase letters, digits and '-', starting and ending with a letter or "
          "digit");
  }
  auto r = config::load_text(
      "targets:\n  - name: app\n    pid: 1\n    container_name: " + std::string(64, 'a') + "\n",
      "t.yaml", [](const std::string&) { return std::optional<std::string>(); });
  CHECK_FALSE(r.ok());
}

namespace {

// An agent whose only exporter's upstream refuses.
class upstream_down final : public admin::status_provider {
 public:
  void visit(stats::sink&) const override {}
  std::vector<std::string> not_ready() const override {
    return {"exporter otlp: upstream failing: gRPC 14: connection refused"};
  }
};

}  // namespace

TEST_CASE("a sidecar's readiness leaves a failing upstream out", "[k8s][admin]") {
  upstream_down s;
  CHECK(admin::route("GET", "/readyz", s).status == 503);
  auto sidecar = admin::route("GET", "/readyz?upstream=ignore", s);
  CHECK(sidecar.status == 200);
  CHECK(sidecar.body ==
        "ready\n  (not counted) exporter otlp: upstream failing: gRPC 14: connection refused\n");
  CHECK(admin::route("GET", "/readyz?x=1&upstream=ignore", s).status == 200);
  CHECK(admin::route("GET", "/readyz?upstream=ignored", s).status == 503);
  CHECK(admin::route("GET", "/readyz?upstream=ignorex&y", s).status == 503);
}
