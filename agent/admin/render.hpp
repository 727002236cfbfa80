// The surfaces of sidelight's numbers, each a generic rendering of whatever the components report
// through stats::sink: the Prometheus text exposition format 0.0.4 (/metrics), the JSON status
// document (/api/v1/status), and the table `sidelight status` prints from that document.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "stats/stats.hpp"

namespace sidelight::admin {

// What the admin endpoints read, on the agent's own thread.
class status_provider : public stats::source {
 public:
  // Why /readyz answers 503; empty when ready.
  virtual std::vector<std::string> not_ready() const = 0;
};

std::string to_prometheus(const stats::source& s);
// Every section, value and fact the source reports, with "ready" and "not_ready_reasons".
nlohmann::json to_json(const status_provider& s);
// The JSON document as text; peer text that is not UTF-8 is replaced, never thrown on.
std::string json_text(const nlohmann::json& doc);
// `sidelight status`: the document as tables for people. Tolerates missing fields, so that it
// reads the status of an agent of another version.
std::string to_table(const nlohmann::json& doc);

// "3h12m", "45s": for people.
std::string human_duration(double seconds);

}  // namespace sidelight::admin
