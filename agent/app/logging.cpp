#include "app/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>

#include "app/log_format.hpp"

namespace sidelight::app {

void setup_logging(const config::log_settings& settings) {
  spdlog::drop("sidelight");
  auto logger = spdlog::stderr_logger_mt("sidelight");
  log_style style;
  style.json = settings.style == config::log_settings::format::json;
  style.journal = is_journal_stream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO);
  logger->set_formatter(make_log_formatter(style));
  logger->set_level(spdlog::level::from_str(settings.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace sidelight::app
