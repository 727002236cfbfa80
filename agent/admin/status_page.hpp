// The status page served at / : one self-contained HTML file (agent/admin/status_page.html,
// inline CSS and JavaScript, no external assets) embedded at build time. It draws itself from
// /api/v1/status and refreshes without reloading.
#pragma once

#include <string_view>

namespace sidelight::admin {

std::string_view status_page_html();

}  // namespace sidelight::admin
