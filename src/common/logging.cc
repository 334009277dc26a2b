#include "common/logging.h"

#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>

namespace kobs::logging {
namespace {
// Loggers share one sink and pattern; spdlog's registry is its own global,
// so all kobs state here is the pattern chosen by init().
std::mutex g_mutex;
std::string g_pattern = "ts=%Y-%m-%dT%H:%M:%S.%fZ level=%l component=%n msg=\"%v\"";
}  // namespace

void init(const Options& options) {
  std::lock_guard lock(g_mutex);
  if (options.format == "json")
    g_pattern = R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","component":"%n","msg":"%v"})";
  spdlog::set_level(spdlog::level::from_str(options.level));
  spdlog::set_pattern(g_pattern, spdlog::pattern_time_type::utc);
}

std::shared_ptr<spdlog::logger> get(std::string_view component) {
  std::string name(component);
  if (auto existing = spdlog::get(name)) return existing;
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern(g_pattern, spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::get_level());
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace kobs::logging
