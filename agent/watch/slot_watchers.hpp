// Constructors of the concrete watchers, one per kind of target identity.
#pragma once

#include "watch/slot_watcher.hpp"

namespace sidelight::watch {

std::shared_ptr<target_watcher> make_pid_watcher(watch_context& ctx, const config::target& t,
                                                 report_handler on_report);
std::shared_ptr<target_watcher> make_pidfile_watcher(watch_context& ctx, const config::target& t,
                                                     report_handler on_report);
std::shared_ptr<target_watcher> make_systemd_unit_watcher(watch_context& ctx,
                                                          const config::target& t,
                                                          report_handler on_report);
std::shared_ptr<target_watcher> make_socket_watcher(watch_context& ctx, const config::target& t,
                                                    report_handler on_report);
std::shared_ptr<target_watcher> make_process_watcher(watch_context& ctx, const config::target& t,
                                                     report_handler on_report);

}  // namespace sidelight::watch
