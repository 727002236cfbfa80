#include "app/cli.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_server.hpp"
#include "admin/render.hpp"
#include "agent_version.hpp"
#include "app/agent.hpp"
#include "app/capabilities.hpp"
#include "app/logging.hpp"
#include "config/loader.hpp"
#include "config/reference.hpp"

namespace sidelight::app {
namespace {

constexpr const char* kDefaultConfig = "/etc/sidelight/sidelight.yaml";

constexpr const char* kUsage = R"(usage: sidelight [COMMAND] [OPTIONS]

Commands:
  run             watch targets and export their heartbeats (the default)
  check-config    validate the configuration, print every problem, exit 0 or 1
  status          show a running sidelight's targets and exporters (from its admin endpoint)
  health [PATH]   GET PATH (default /healthz) from a running sidelight's admin endpoint; exit 0
                  on 200, 1 on another answer, 2 on none (a container HEALTHCHECK, an exec probe)
  config-reference (--markdown|--yaml) FILE [--write]
                  print FILE (docs/CONFIGURATION.md, or a sidelight.yaml) with its key tables, or
                  its `##` key comments, made anew from the loader's key tables; --write replaces
                  FILE instead; exit 1 when the file cannot take them

Options:
  -c, --config FILE     configuration file (default: $SIDELIGHT_CONFIG or /etc/sidelight/sidelight.yaml)
      --log-level LEVEL trace, debug, info, warn, error or off (overrides log.level)
      --admin ADDR      status, health: the admin address (default: admin.listen of --config,
                        else 127.0.0.1:13133); HOST:PORT or unix:/path
      --json            status: print the JSON document instead of the table
  -h, --help            this text
  -v, --version         print the version

Signals: SIGTERM/SIGINT stop after a final export; SIGHUP reloads the configuration.
)";

struct options {
  std::string command = "run";
  std::string config_path;
  bool config_given = false;
  std::string log_level;
  std::string admin_address;
  bool json = false;
  std::string path = "/healthz";  // health
  std::string reference_flag;     // config-reference: --markdown or --yaml
  std::string reference_file;
  bool write = false;
};

// The admin address `status` and `health` ask: --admin, else admin.listen of --config, else the
// default. Empty (after printing why) when the config cannot say.
std::string admin_address_of(const options& opts) {
  if (!opts.admin_address.empty() || !opts.config_given) {
    return opts.admin_address.empty() ? "127.0.0.1:13133" : opts.admin_address;
  }
  auto result = config::load_file(opts.config_path);
  if (!result.ok()) {
    for (const auto& p : result.problems)
      std::fprintf(stderr, "%s\n", config::format_problem(p).c_str());
    return "";
  }
  if (result.value->admin.listen.empty()) {
    std::fprintf(stderr, "sidelight: %s turns the admin endpoints off (admin.listen is empty)\n",
                 opts.config_path.c_str());
  }
  return result.value->admin.listen;
}

int check_health(const options& opts) {
  auto address = admin_address_of(opts);
  if (address.empty()) return 1;
  auto fetched = admin::fetch(address, opts.path);
  std::fprintf(fetched.ok ? stdout : stderr, "%s", fetched.text.c_str());
  if (fetched.status == 0) std::fprintf(stderr, "\n");
  return fetched.ok ? 0 : fetched.status == 0 ? 2 : 1;
}

int show_status(const options& opts) {
  auto address = admin_address_of(opts);
  if (address.empty()) return 1;
  auto fetched = admin::fetch_status(address);
  if (!fetched.ok) {
    std::fprintf(stderr, "sidelight: %s\n", fetched.text.c_str());
    return 2;
  }
  if (opts.json) {
    std::printf("%s", fetched.text.c_str());
    return 0;
  }
  auto doc = nlohmann::json::parse(fetched.text, nullptr, false);
  if (!doc.is_object()) {
    std::fprintf(stderr, "sidelight: %s answered, but not with a sidelight status document\n",
                 address.c_str());
    return 2;
  }
  try {
    std::printf("%s", admin::to_table(doc).c_str());
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "sidelight: %s answered with a status this version cannot show: %s\n",
                 address.c_str(), e.what());
    return 2;
  }
  return 0;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "sidelight: %s\n\n%s", message.c_str(), kUsage);
  return 1;
}

int check_config(const std::string& path) {
  auto result = config::load_file(path);
  for (const auto& p : result.problems)
    std::printf("%s\n", config::format_problem(p).c_str());
  if (!result.ok()) {
    std::printf("%s: %zu error(s); sidelight would not start\n", path.c_str(),
                result.error_count());
    return 1;
  }
  const auto& cfg = *result.value;
  std::printf("%s: OK: %zu target(s), %zu exporter(s)\n", path.c_str(), cfg.targets.size(),
              cfg.exporters.otlp.size() + cfg.exporters.console.size());
  return 0;
}

// glibc's malloc, tuned before any thread starts (glibc fixes the arena limit when the first
// thread beyond main allocates).
//
// Arenas: one for all threads keeps the heap smallest: gRPC's, the intake's and the exporters'
// threads reuse each other's freed blocks, and with OTLP/gRPC intake under overload the peak RSS
// is about 1 MiB lower at no cost in throughput (docs/PERFORMANCE.md). NDJSON threads that decode
// at once allocate for every line: on one arena its lock made two of them slower than one, so
// with intake.ndjson.threads above 1 there is an arena more for each.
//
// Thresholds: freed heap at an arena's top stays mapped up to 4 MiB, and blocks under 1 MiB come
// from the heap. With glibc's defaults each received request's buffers were given back to the
// kernel and faulted in again, zeroed, for the next (15,000-30,000 page faults in the steady bench
// against under 1,000, and about 5 % more spans per CPU-second). What is kept comes back at the
// periodic malloc_trim (codec/payload.hpp).
//
// MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_ or GLIBC_TUNABLES still win.
bool tuned_by_environment(const char* variable, const char* tunable) {
  const char* t = std::getenv("GLIBC_TUNABLES");
  return std::getenv(variable) != nullptr || (t != nullptr && std::strstr(t, tunable) != nullptr);
}

void tune_malloc(const config::config& cfg) {
  if (!tuned_by_environment("MALLOC_ARENA_MAX", "arena_max")) {
    const auto& ndjson = cfg.intake.ndjson;
    int decoders = ndjson.enabled() && ndjson.threads > 1 ? static_cast<int>(ndjson.threads) : 0;
    mallopt(M_ARENA_MAX, 1 + decoders);
  }
  if (!tuned_by_environment("MALLOC_TRIM_THRESHOLD_", "trim_threshold")) {
    mallopt(M_TRIM_THRESHOLD, 4 << 20);
  }
  if (!tuned_by_environment("MALLOC_MMAP_THRESHOLD_", "mmap_threshold")) {
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
  }
}

// gRPC's default poller (epoll1) shares one epoll set among every thread that waits on a
// completion queue: the exporter's thread woke for intake's sockets and then woke intake's thread,
// two context switches for each request received. The poll engine polls each queue's own sockets
// (intake's listeners and connections; the exporters' channels while something is pending on
// them), which gave about a sixth more spans per CPU-second (docs/PERFORMANCE.md). A channel
// that connects again after an outage is watched by its exporter's thread meanwhile
// (export/otlp_grpc_exporter.hpp); an idle one is left to gRPC's backup poller (every 5 s).
// GRPC_POLL_STRATEGY set in the environment still wins. Must run before the first gRPC object
// is made: gRPC reads it once, at its first init.
void choose_grpc_poller() {
  ::setenv("GRPC_POLL_STRATEGY", "poll", 0);
}

int run_agent(const options& opts) {
  config::log_settings early;
  if (!opts.log_level.empty()) early.level = opts.log_level;
  setup_logging(early);
  auto result = config::load_file(opts.config_path);
  for (const auto& p : result.problems) {
    if (p.level == config::problem::severity::error) {
      spdlog::error("{}", config::format_problem(p));
    } else {
      spdlog::warn("{}", config::format_problem(p));
    }
  }
  if (!result.ok()) {
    spdlog::error("{} error(s) in {}; not starting", result.error_count(), opts.config_path);
    return 1;
  }
  auto cfg = std::move(*result.value);
  if (!opts.log_level.empty()) cfg.log.level = opts.log_level;
  setup_logging(cfg.log);
  tune_malloc(cfg);
  choose_grpc_poller();
  spdlog::info("sidelight {} starting with {}; capabilities: {}", SIDELIGHT_VERSION,
               opts.config_path, raise_permitted_capabilities());
  agent a(std::move(cfg));
  int code = a.run();
  if (code == 0) spdlog::info("stopped");
  return code;
}

// The reference files are the project's own, but a file is bounded before it is read whole.
int config_reference(const options& opts) {
  constexpr std::uintmax_t kMaxBytes = 4u << 20;
  std::error_code ec;
  auto size = std::filesystem::file_size(opts.reference_file, ec);
  if (ec || size > kMaxBytes) {
    std::fprintf(stderr, "sidelight: %s: %s\n", opts.reference_file.c_str(),
                 ec ? ec.message().c_str() : "larger than 4 MiB");
    return 1;
  }
  std::ifstream in(opts.reference_file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto made = opts.reference_flag == "--markdown" ? config::regenerate_markdown(text)
                                                  : config::regenerate_yaml(text);
  for (const auto& p : made.problems)
    std::fprintf(stderr, "sidelight: %s: %s\n", opts.reference_file.c_str(), p.c_str());
  if (!made.problems.empty()) return 1;
  if (!opts.write) {
    std::fwrite(made.text.data(), 1, made.text.size(), stdout);
    return 0;
  }
  std::ofstream out(opts.reference_file, std::ios::binary | std::ios::trunc);
  out << made.text;
  return out.good() ? 0 : 1;
}

}  // namespace

int run_command_line(int argc, char** argv) {
  options opts;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  bool command_given = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto a = args[i];
    auto value = [&](std::string& out) -> bool {
      if (auto eq = a.find('='); eq != std::string_view::npos) {
        out = std::string(a.substr(eq + 1));
        return true;
      }
      if (i + 1 >= args.size()) return false;
      out = std::string(args[++i]);
      return true;
    };
    if (a == "-h" || a == "--help" || a == "help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (a == "-v" || a == "--version" || a == "version") {
      std::printf("sidelight %s\n", SIDELIGHT_VERSION);
      return 0;
    }
    if (a == "-c" || a == "--config" || a.starts_with("--config=")) {
      if (!value(opts.config_path)) return usage_error("--config needs a file");
      opts.config_given = true;
    } else if (a == "--admin" || a.starts_with("--admin=")) {
      if (!value(opts.admin_address)) return usage_error("--admin needs an address");
    } else if (a == "--json") {
      opts.json = true;
    } else if ((a == "--markdown" || a == "--yaml") && opts.command == "config-reference") {
      opts.reference_flag = std::string(a);
      if (!value(opts.reference_file)) return usage_error(std::string(a) + " needs a file");
    } else if (a == "--write" && opts.command == "config-reference") {
      opts.write = true;
    } else if (a == "--log-level" || a.starts_with("--log-level=")) {
      if (!value(opts.log_level)) return usage_error("--log-level needs a level");
      static const std::vector<std::string_view> levels = {"trace", "debug", "info",
                                                           "warn",  "error", "off"};
      if (std::find(levels.begin(), levels.end(), opts.log_level) == levels.end()) {
        return usage_error("unknown log level '" + opts.log_level + "'");
      }
    } else if (!a.starts_with("-") && !command_given) {
      command_given = true;
      opts.command = std::string(a);
    } else if (a.starts_with("/") && opts.command == "health") {
      opts.path = std::string(a);
    } else {
      return usage_error("unexpected argument '" + std::string(a) + "'");
    }
  }
  if (opts.config_path.empty()) {
    const char* env = std::getenv("SIDELIGHT_CONFIG");
    opts.config_path = env && *env ? env : kDefaultConfig;
  }
  if (opts.command == "run") return run_agent(opts);
  if (opts.command == "check-config") return check_config(opts.config_path);
  if (opts.command == "status") return show_status(opts);
  if (opts.command == "health") return check_health(opts);
  if (opts.command == "config-reference") {
    if (opts.reference_flag.empty())
      return usage_error("config-reference needs --markdown or --yaml");
    return config_reference(opts);
  }
  return usage_error("unknown command '" + opts.command + "'");
}

}  // namespace sidelight::app
