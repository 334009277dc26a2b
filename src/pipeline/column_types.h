// What an encoder needs to know about a destination column: its name and its
// ClickHouse type as the server reports it (system.columns / DESCRIBE).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kobs::pipeline {

struct ColumnSpec {
  std::string name;
  std::string type;  // e.g. "LowCardinality(String)", "DateTime64(9)", "Map(LowCardinality(String), String)"
};

// How a time column stores an instant.
struct TimeType {
  enum Kind { kDateTime64, kDateTime, kDate, kUnsupported } kind = kUnsupported;
  int precision = 0;  // DateTime64 digits after the second
};

// Parses DateTime64(9), DateTime64(9, 'UTC'), DateTime, DateTime('UTC'), Date.
TimeType parseTimeType(std::string_view type);

// Strips LowCardinality(...) wrappers: "LowCardinality(String)" -> "String".
std::string_view unwrapLowCardinality(std::string_view type);

}  // namespace kobs::pipeline
