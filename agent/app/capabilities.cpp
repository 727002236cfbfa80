#include "app/capabilities.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sidelight::app {

std::string raise_permitted_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return "unknown";
  bool raise = false;
  for (auto& d : data) {
    raise = raise || d.effective != d.permitted;
    d.effective = d.permitted;
  }
  // Raising within the permitted set needs no privilege; a failure leaves things as they were.
  if (raise) ::syscall(SYS_capset, &header, data);
  ::syscall(SYS_capget, &header, data);
  struct named {
    int cap;
    const char* name;
  };
  static constexpr named kUsed[] = {{CAP_SYS_PTRACE, "SYS_PTRACE"},
                                    {CAP_DAC_READ_SEARCH, "DAC_READ_SEARCH"},
                                    {CAP_NET_ADMIN, "NET_ADMIN"}};
  std::string out;
  for (const auto& c : kUsed) {
    if (data[c.cap / 32].effective & (1u << (c.cap % 32)))
      out += out.empty() ? c.name : std::string(" ") + c.name;
  }
  return out.empty() ? "none" : out;
}

}  // namespace sidelight::app
