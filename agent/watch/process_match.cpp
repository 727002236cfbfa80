#include "watch/process_match.hpp"

#include <re2/re2.h>

namespace sidelight::watch {

bool exe_matches(const std::string& want, const std::string& exe) {
  if (want.find('/') != std::string::npos) return exe == want;
  auto slash = exe.rfind('/');
  return exe.compare(slash == std::string::npos ? 0 : slash + 1, std::string::npos, want) == 0;
}

bool matches(const config::process_match& m, process_probe& p) {
  const auto& st = p.stat();
  if (st.zombie() || st.kernel_thread()) return false;
  if (m.comm && st.comm != *m.comm) return false;
  if (m.uid) {
    auto owner = p.owner();
    if (!owner || *owner != *m.uid) return false;
  }
  if (m.exe) {
    auto exe = p.exe();
    if (!exe) {
      auto cmd = p.cmdline();
      if (!cmd || cmd->empty()) return false;
      exe = cmd->substr(0, cmd->find(' '));
    }
    if (!exe_matches(*m.exe, *exe)) return false;
  }
  if (m.cmdline_re) {
    auto cmd = p.cmdline();
    if (!cmd || cmd->empty() || !RE2::PartialMatch(*cmd, *m.cmdline_re)) return false;
  }
  return true;
}

}  // namespace sidelight::watch
