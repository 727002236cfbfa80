// The capabilities sidelight uses when it has them: CAP_SYS_PTRACE (another user's
// /proc/PID/exe and fd links), CAP_DAC_READ_SEARCH (another user's /proc/PID/fd) and
// CAP_NET_ADMIN (the kernel's process events). In a container running as a non-root user,
// Kubernetes cannot hand them over as ambient capabilities; the image gives the binary file
// capabilities in its permitted set only (no effective bit, so a pod that does not add them still
// starts), and sidelight raises what it was permitted into its effective set here.
#pragma once

#include <string>

namespace sidelight::app {

// Makes every permitted capability effective. Returns the effective capabilities sidelight uses,
// by name ("SYS_PTRACE NET_ADMIN"), or "none".
std::string raise_permitted_capabilities();

}  // namespace sidelight::app
