// Severity of a log line from its body, for containers that opt in
// (pod_logs.severity): a JSON body's "level" or "severity" string, a
// logfmt `level=` (or `lvl=`, `severity=`) value, or a leading level word
// (`ERROR ...`, `[warn] ...`, `I1130 ...` is not one). The word is mapped to
// the OpenTelemetry SeverityNumber of its range's first value (TRACE 1,
// DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21); SeverityText keeps the word
// as written.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kobs::collect::pod_logs {

struct Severity {
  uint8_t number = 0;
  std::string_view text;  // views the body
};

// The OpenTelemetry SeverityNumber of a level word (case-insensitive: trace,
// debug, info, information, notice, warn, warning, error, err, critical,
// crit, fatal, panic, alert, emergency); 0 when it is not one.
uint8_t severityNumber(std::string_view word);

// nullopt when the body says nothing recognisable. Reads at most the first
// 512 bytes: the level is at the start of a line or among the first fields.
std::optional<Severity> detectSeverity(std::string_view body);

}  // namespace kobs::collect::pod_logs
