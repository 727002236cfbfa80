#include "app/log_format.hpp"

#include <spdlog/pattern_formatter.h>
#include <sys/stat.h>

#include <cinttypes>
#include <cstdio>
#include <ctime>

#include "log/fields.hpp"

namespace sidelight::app {
namespace {

void append(spdlog::memory_buf_t& out, std::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

void append_escaped(spdlog::memory_buf_t& out, std::string_view text) {
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        append(out, "\\\"");
        break;
      case '\\':
        append(out, "\\\\");
        break;
      case '\n':
        append(out, "\\n");
        break;
      case '\t':
        append(out, "\\t");
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          append(out, buf);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
}

void append_priority(spdlog::memory_buf_t& out, spdlog::level::level_enum level) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<%d>", syslog_priority(level));
  append(out, buf);
}

// ,"key":"value" for a non-empty value.
void append_field(spdlog::memory_buf_t& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  append(out, ",\"");
  append(out, key);
  append(out, "\":\"");
  append_escaped(out, value);
  out.push_back('"');
}

// {"time":"2026-11-23T10:00:00.123Z","level":"warning","message":"…","target":"…","pid":42}
// Under the journal, "<N>" first and no "time".
class json_formatter final : public spdlog::formatter {
 public:
  explicit json_formatter(bool journal) : journal_(journal) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    if (journal_) {
      append_priority(dest, msg.level);
      append(dest, "{");
    } else {
      append(dest, "{\"time\":\"");
      append_time(dest, msg.time);
      append(dest, "\",");
    }
    append(dest, "\"level\":\"");
    auto level = spdlog::level::to_string_view(msg.level);
    append(dest, std::string_view(level.data(), level.size()));
    append(dest, "\",\"message\":\"");
    append_escaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.push_back('"');
    if (const auto* f = log::current) {
      append_field(dest, "target", f->target);
      append_field(dest, "instance", f->instance);
      if (f->pid > 0) {
        char buf[32];
        std::snprintf(buf, sizeof buf, ",\"pid\":%ld", f->pid);
        append(dest, buf);
      }
      append_field(dest, "exporter", f->exporter);
      append_field(dest, "error", f->error);
    }
    append(dest, "}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>(journal_);
  }

 private:
  static void append_time(spdlog::memory_buf_t& dest, spdlog::log_clock::time_point time) {
    auto since = time.time_since_epoch();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
    std::time_t t = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(millis));
    append(dest, stamp);
  }
  bool journal_;
};

// "<4>message": the journal adds the time, the unit and the PID.
class journal_text_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append_priority(dest, msg.level);
    std::string_view payload(msg.payload.data(), msg.payload.size());
    // One message, one journal entry: a line break would start an entry without a priority.
    for (char c : payload)
      dest.push_back(c == '\n' ? ' ' : c);
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<journal_text_formatter>();
  }
};

}  // namespace

bool is_journal_stream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return false;
  std::uintmax_t dev = 0;
  std::uintmax_t ino = 0;
  int used = 0;
  if (std::sscanf(journal_stream, "%" SCNuMAX ":%" SCNuMAX "%n", &dev, &ino, &used) != 2 ||
      journal_stream[used] != '\0') {
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<std::uintmax_t>(st.st_dev) == dev &&
         static_cast<std::uintmax_t>(st.st_ino) == ino;
}

int syslog_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 7;
    case spdlog::level::info:
      return 6;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::err:
      return 3;
    case spdlog::level::critical:
      return 2;
    default:
      return 6;
  }
}

std::unique_ptr<spdlog::formatter> make_log_formatter(log_style style) {
  if (style.json) return std::make_unique<json_formatter>(style.journal);
  if (style.journal) return std::make_unique<journal_text_formatter>();
  return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
}

}  // namespace sidelight::app
