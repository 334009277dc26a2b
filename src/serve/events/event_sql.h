// SQL fragments and result parsing shared by the readers of krateo_events
// (the old API's EventReader and the events-presenter's PresenterReader).
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "serve/events/k8s_event.h"

namespace kobs::serve::events::sql {

// A DateTime64(9) literal from Unix nanoseconds.
inline std::string nanos(int64_t ns) { return fmt::format("fromUnixTimestamp64Nano(toInt64({}))", ns); }

// The SSE cursor as a tuple comparable with (ingest_time, ts, row_key).
inline std::string cursorTuple(const EventCursor& c) {
  return fmt::format("({}, {}, toUInt64({}))", nanos(c.ingest_ns), nanos(c.ts_ns), c.key);
}

// Calls f(json) for each line of JSONEachRow / JSONCompactEachRow output.
template <typename F>
void eachRow(const std::string& data, F&& f) {
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    if (end > pos) f(nlohmann::json::parse(data.begin() + pos, data.begin() + end));
    pos = end + 1;
  }
}

}  // namespace kobs::serve::events::sql
