// How a log line looks on standard error. Text for a terminal ("2026-11-23T10:00:00.123 info
// message"), or one JSON object per line with the structured fields of log/fields.hpp. Under
// systemd, when stderr is the journal (JOURNAL_STREAM names it), each line starts with its syslog
// priority ("<4>message") so that `journalctl -p warning` can filter, and carries no timestamp:
// the journal stamps every entry itself.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string_view>

namespace sidelight::app {

// True when `fd` is the stream systemd connected to the journal: JOURNAL_STREAM ("DEV:INODE", the
// variable's value, null when unset) names the same device and inode as fstat(fd).
bool is_journal_stream(const char* journal_stream, int fd);

// The syslog priority of a level: 7 debug (and trace), 6 info, 4 warning, 3 error, 2 critical.
int syslog_priority(spdlog::level::level_enum level);

struct log_style {
  bool json = false;
  bool journal = false;  // "<N>" first, no timestamp
};

std::unique_ptr<spdlog::formatter> make_log_formatter(log_style style);

}  // namespace sidelight::app
