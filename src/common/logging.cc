#include "common/logging.h"

#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "common/json_escape.h"

namespace kobs::logging {
namespace {

// Loggers share one sink and pattern; spdlog's registry is its own global,
// so all kobs state here is the format chosen by init().
std::mutex g_mutex;
bool g_json = false;

// %Q: the message escaped for a JSON string (or for a logfmt quoted value),
// so a message with quotes or newlines cannot break a line's structure.
class EscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string escaped;
    json::appendEscaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<EscapedMessage>(); }
};

std::unique_ptr<spdlog::formatter> makeFormatter(bool json) {
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<EscapedMessage>('Q');
  f->set_pattern(json ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","component":"%n","msg":"%Q"})"
                      : "ts=%Y-%m-%dT%H:%M:%S.%fZ level=%l component=%n msg=\"%Q\"");
  return f;
}

}  // namespace

void init(const Options& options) {
  std::lock_guard lock(g_mutex);
  g_json = options.format == "json";
  spdlog::set_level(spdlog::level::from_str(options.level));
  spdlog::set_formatter(makeFormatter(g_json));
}

std::shared_ptr<spdlog::logger> get(std::string_view component) {
  std::string name(component);
  if (auto existing = spdlog::get(name)) return existing;
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(makeFormatter(g_json));
  logger->set_level(spdlog::get_level());
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace kobs::logging
