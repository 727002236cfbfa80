#include "intake/intake.hpp"

#include <fstream>
#include <mutex>

namespace sidelight::intake {

std::string_view to_string(protocol p) {
  switch (p) {
    case protocol::otlp_grpc:
      return "otlp_grpc";
    case protocol::otlp_http:
      return "otlp_http";
    case protocol::ndjson:
      return "ndjson";
  }
  return "unknown";
}

void intake_policy::set_common(resource r) {
  auto shared = std::make_shared<const resource>(std::move(r));
  std::unique_lock lock(mutex_);
  common_ = std::move(shared);
}

void intake_policy::set_instance(pid_t pid, resource r) {
  auto shared = std::make_shared<const resource>(std::move(r));
  std::unique_lock lock(mutex_);
  instances_[pid] = std::move(shared);
}

void intake_policy::erase_instance(pid_t pid) {
  std::unique_lock lock(mutex_);
  instances_.erase(pid);
}

void intake_policy::set_sampling(config::sampling_settings s) {
  std::unique_lock lock(mutex_);
  sampling_ = s;
}

config::sampling_settings intake_policy::sampling() const {
  std::shared_lock lock(mutex_);
  return sampling_;
}

intake_policy::origin intake_policy::lookup(pid_t pid) const {
  std::shared_lock lock(mutex_);
  if (pid > 0) {
    if (auto it = instances_.find(pid); it != instances_.end()) return {it->second, true};
  }
  return {common_, false};
}

std::string describe_peer(pid_t pid) {
  if (pid <= 0) return "unknown client";
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return "pid " + std::to_string(pid) + (comm.empty() ? "" : " (" + comm + ")");
}

}  // namespace sidelight::intake
