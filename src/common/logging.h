// Structured logging on spdlog: one line per event, `key=value` pairs after
// the message (logfmt), or one JSON object per line with format "json".
// Loggers are named per component ("store", "wal", "k8s.events", ...).
//
// Threading: init() once on the main thread before other threads start;
// get() and the loggers it returns are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace kobs::logging {

struct Options {
  std::string level = "info";   // trace, debug, info, warn, error
  std::string format = "text";  // text (logfmt) or json
};

// Configures the default sink and level; call once at process start.
void init(const Options& options);

// The logger of one component; created on first use, sharing the sinks.
std::shared_ptr<spdlog::logger> get(std::string_view component);

}  // namespace kobs::logging
