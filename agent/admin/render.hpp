// Renderings of a status snapshot: JSON (/api/v1/status), Prometheus text exposition format 0.0.4
// (/metrics), and the table `sidelight status` prints.
#pragma once

#include <string>

#include "admin/status.hpp"

namespace sidelight::admin {

std::string to_json(const status_snapshot& s);
// Parses what to_json wrote; an error text on failure.
std::string from_json(const std::string& text, status_snapshot& out);
std::string to_prometheus(const status_snapshot& s);
std::string to_table(const status_snapshot& s);

// "3h12m", "45s": for people.
std::string human_duration(double seconds);

}  // namespace sidelight::admin
