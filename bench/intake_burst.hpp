// The burst scenario (issue 14's first target): an unpaced burst into sidelight on its default
// configuration and into the Collector as the middle agent on its defaults, each with a real
// Collector freshly started as its upstream; optionally with that upstream killed halfway through
// and started again. Figures are per agent, min / median / max over the runs.
#pragma once

#include <filesystem>
#include <string>

#include "intake_peers.hpp"

namespace sidelight::bench {

struct burst_options {
  int requests = 3000;
  int spans = 512;
  int in_flight = 8;
  int runs = 1;
  bool kill_upstream = false;
  std::string collector;  // the Collector binary: upstream, and the other middle agent
  std::string sidelight;  // the sidelight binary
};

// Runs the scenario; every check that fails goes through fail().
void run_burst(const burst_options& o, sink& s, const std::filesystem::path& dir);

}  // namespace sidelight::bench
