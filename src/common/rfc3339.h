// RFC 3339 timestamps ("2026-03-15T10:00:00Z", "2026-03-15T10:00:00.123456789+02:00"):
// the one parser in kobs (Kubernetes object times, token expiry, API query
// parameters). Accepted: 'T', 't' or ' ' between date and time (RFC 3339
// §5.6 note), any number of fraction digits (beyond nanoseconds truncated),
// 'Z', 'z' or a ±hh:mm offset, nothing after. Second 60 (a leap second)
// counts as the next minute's first.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kobs::rfc3339 {

struct Time {
  int64_t seconds = 0;  // since the Unix epoch, UTC
  int32_t nanos = 0;    // [0, 1e9)
};

std::optional<Time> parse(std::string_view text);
// Nanoseconds since the epoch; nullopt also when outside int64 (years past 2262).
std::optional<int64_t> parseNanos(std::string_view text);

}  // namespace kobs::rfc3339
