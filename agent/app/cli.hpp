// The command line: `run`, `check-config`, `status`, `health`, `config-reference`, `--version`.
#pragma once

namespace sidelight::app {

// Exit codes: 0 clean stop, 1 bad config or usage, 2 could not start.
int run_command_line(int argc, char** argv);

}  // namespace sidelight::app
