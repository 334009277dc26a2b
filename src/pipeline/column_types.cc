#include "pipeline/column_types.h"

#include <charconv>

namespace kobs::pipeline {

std::string_view unwrapLowCardinality(std::string_view type) {
  constexpr std::string_view kLc = "LowCardinality(";
  while (type.starts_with(kLc) && type.ends_with(")")) type = type.substr(kLc.size(), type.size() - kLc.size() - 1);
  return type;
}

TimeType parseTimeType(std::string_view type) {
  type = unwrapLowCardinality(type);
  if (type.starts_with("DateTime64(")) {
    int p = 0;
    auto begin = type.data() + 11;
    auto r = std::from_chars(begin, type.data() + type.size(), p);
    if (r.ec != std::errc() || p < 0 || p > 9) return {};
    return {TimeType::kDateTime64, p};
  }
  if (type == "DateTime" || type.starts_with("DateTime(")) return {TimeType::kDateTime, 0};
  if (type == "Date") return {TimeType::kDate, 0};
  return {};
}

}  // namespace kobs::pipeline
