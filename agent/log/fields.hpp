// Log lines with structured fields (target, instance, pid, exporter, error) beside the message.
// spdlog 1.10 (Debian 12) has no per-message fields, so they travel in a thread-local that the
// formatter reads while the logger formats that very message on this thread: the loggers are
// synchronous, so the pointer is valid for exactly that call. The JSON log format writes each field
// as a key; the text format leaves them out, because the message already says them in words.
// Header-only, so any stage can log with fields without linking the app stage.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>
#include <utility>

namespace sidelight::log {

struct fields {
  std::string_view target{};    // a watched target's name
  std::string_view instance{};  // its service.instance.id
  long pid = 0;                 // a process: a target's, or the sender of bad input; 0 = none
  std::string_view exporter{};  // an exporter's name
  std::string_view error{};     // what went wrong, as the message quotes it
};

// The fields of the message being formatted on this thread, or nullptr.
inline thread_local const fields* current = nullptr;

// spdlog::log(level, fmt, args...) with `f` attached.
template <class... Args>
void with(spdlog::level::level_enum level, const fields& f, spdlog::format_string_t<Args...> fmt,
          Args&&... args) {
  struct attach {
    explicit attach(const fields& f) { current = &f; }
    ~attach() { current = nullptr; }
    attach(const attach&) = delete;
    attach& operator=(const attach&) = delete;
  } attached(f);
  spdlog::log(level, fmt, std::forward<Args>(args)...);
}

template <class... Args>
void info(const fields& f, spdlog::format_string_t<Args...> fmt, Args&&... args) {
  with(spdlog::level::info, f, fmt, std::forward<Args>(args)...);
}
template <class... Args>
void warn(const fields& f, spdlog::format_string_t<Args...> fmt, Args&&... args) {
  with(spdlog::level::warn, f, fmt, std::forward<Args>(args)...);
}
template <class... Args>
void error(const fields& f, spdlog::format_string_t<Args...> fmt, Args&&... args) {
  with(spdlog::level::err, f, fmt, std::forward<Args>(args)...);
}

}  // namespace sidelight::log
