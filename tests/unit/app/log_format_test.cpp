// Log lines as a terminal, a JSON reader and the journal see them (app/log_format.hpp).
#include "app/log_format.hpp"

#include <fcntl.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "log/fields.hpp"

using namespace sidelight;

namespace {

// Logs through the default logger (as the agent's code does) into a string, in `style`.
class captured_log {
 public:
  explicit captured_log(app::log_style style) {
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_formatter(app::make_log_formatter(style));
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~captured_log() { spdlog::set_default_logger(previous_); }
  captured_log(const captured_log&) = delete;
  captured_log& operator=(const captured_log&) = delete;

  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

std::string dev_inode(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

}  // namespace

TEST_CASE("stderr is the journal only when JOURNAL_STREAM names its device and inode", "[log]") {
  char path[] = "/tmp/sidelight-journal.XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  int other = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  CHECK(app::is_journal_stream(dev_inode(fd).c_str(), fd));
  CHECK_FALSE(app::is_journal_stream(dev_inode(other).c_str(), fd));  // another file
  CHECK_FALSE(app::is_journal_stream(nullptr, fd));                   // unset
  CHECK_FALSE(app::is_journal_stream("", fd));
  CHECK_FALSE(app::is_journal_stream((dev_inode(fd) + "x").c_str(), fd));  // not DEV:INODE
  CHECK_FALSE(app::is_journal_stream("12", fd));
  ::close(other);
  ::close(fd);
  ::unlink(path);
}

TEST_CASE("under the journal, a text line is <priority>message with no timestamp", "[log]") {
  captured_log log({.json = false, .journal = true});
  spdlog::debug("looking");
  spdlog::info("started");
  spdlog::warn("upstream slow");
  spdlog::error("cannot start: two\nlines");
  spdlog::critical("gone");
  CHECK(log.text() ==
        "<7>looking\n<6>started\n<4>upstream slow\n<3>cannot start: two lines\n<2>gone\n");
}

TEST_CASE("on a terminal, a text line starts with the time and the level", "[log]") {
  captured_log log({.json = false, .journal = false});
  log::warn({.target = "api", .pid = 42}, "target {}: down", "api");
  auto line = log.text();
  // 2026-11-23T10:00:00.123 warning target api: down
  CHECK(line.size() > 24);
  CHECK(line[4] == '-');
  CHECK(line[10] == 'T');
  CHECK(line.find(" warning target api: down\n") == 23);
  CHECK(line.find("pid") == std::string::npos);  // the fields are for JSON only
}

TEST_CASE("a JSON line carries the structured fields beside the message", "[log]") {
  captured_log log({.json = true, .journal = false});
  log::warn({.target = "emp-api",
             .instance = "21a59cc6",
             .pid = 4128,
             .exporter = "otlp",
             .error = "connection \"refused\""},
            "target {}: down", "emp-api");
  spdlog::info("no fields");
  std::istringstream lines(log.text());
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  auto j = nlohmann::json::parse(first);
  CHECK(j["level"] == "warning");
  CHECK(j["message"] == "target emp-api: down");
  CHECK(j["target"] == "emp-api");
  CHECK(j["instance"] == "21a59cc6");
  CHECK(j["pid"] == 4128);
  CHECK(j["exporter"] == "otlp");
  CHECK(j["error"] == "connection \"refused\"");
  CHECK(j["time"].get<std::string>().size() == 24);  // 2026-11-23T10:00:00.123Z
  auto plain = nlohmann::json::parse(second);
  CHECK(plain.size() == 3);  // time, level, message: the fields went with their message
  CHECK(plain["message"] == "no fields");
}

TEST_CASE("under the journal, a JSON line has its priority first and no time", "[log]") {
  captured_log log({.json = true, .journal = true});
  log::error({.pid = 7}, "bad line\nfrom {}", 7);
  auto text = log.text();
  REQUIRE(text.rfind("<3>{", 0) == 0);
  CHECK(text.back() == '\n');
  CHECK(text.find('\n') == text.size() - 1);  // one line: the message's break is escaped
  auto j = nlohmann::json::parse(text.substr(3));
  CHECK(j["message"] == "bad line\nfrom 7");
  CHECK(j["pid"] == 7);
  CHECK_FALSE(j.contains("time"));
}
