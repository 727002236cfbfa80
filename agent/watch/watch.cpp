#include "watch/watch.hpp"

#include <cstdio>
#include <string_view>

#include "watch/k8s.hpp"
#include "watch/sha1.hpp"
#include "watch/slot_watchers.hpp"

namespace sidelight::watch {

std::shared_ptr<target_watcher> make_watcher(watch_context& ctx, const config::target& t,
                                             report_handler on_report) {
  switch (t.identity) {
    case config::target::kind::pid:
      return make_pid_watcher(ctx, t, std::move(on_report));
    case config::target::kind::pidfile:
      return make_pidfile_watcher(ctx, t, std::move(on_report));
    case config::target::kind::process:
      return make_process_watcher(ctx, t, std::move(on_report));
    case config::target::kind::systemd_unit:
      return make_systemd_unit_watcher(ctx, t, std::move(on_report));
    case config::target::kind::socket:
      return make_socket_watcher(ctx, t, std::move(on_report));
  }
  return nullptr;
}

namespace {

// After a reboot PIDs and start ticks repeat; the boot id tells the two apart.
const std::string& boot_id() {
  static const std::string id = [] {
    auto text = read_small_file("/proc/sys/kernel/random/boot_id", 64);
    std::string s = text.value_or("");
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
      s.pop_back();
    return s;
  }();
  return id;
}

}  // namespace

std::string make_instance_id(const std::string& host, const std::string& target,
                             const std::optional<process_identity>& process) {
  // A fixed namespace for sidelight's instance ids (RFC 9562 name-based UUID, SHA-1).
  static const unsigned char kNamespace[16] = {0x6b, 0x1e, 0x4c, 0x2a, 0x93, 0x0f, 0x4d, 0x57,
                                               0xa1, 0x8e, 0x2c, 0x5b, 0x7d, 0x90, 0x31, 0xe4};
  std::string name = host + '\x1f' + target;
  if (process) {
    name += '\x1f' + boot_id() + '\x1f' + std::to_string(process->pid) + ':' +
            std::to_string(process->start_ticks);
  }
  auto digest =
      sha1()
          .update(std::string_view(reinterpret_cast<const char*>(kNamespace), sizeof kNamespace))
          .update(name)
          .digest();
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(
      out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
      digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
      digest[8], digest[9], digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]);
  return out;
}

std::optional<process_facts> read_process_facts(pid_t pid) {
  auto st = read_stat(pid);
  if (!st || st->zombie()) return std::nullopt;
  process_facts f;
  f.pid = pid;
  f.start_ticks = st->start_ticks;
  f.start_unix_ns = ticks_to_unix_ns(st->start_ticks);
  if (auto exe = read_exe(pid)) {
    f.executable_path = *exe;
    auto slash = exe->rfind('/');
    f.executable_name = slash == std::string::npos ? *exe : exe->substr(slash + 1);
  } else {
    f.executable_name = st->comm;
  }
  f.container_id = read_container_id(pid);
  return f;
}

}  // namespace sidelight::watch
