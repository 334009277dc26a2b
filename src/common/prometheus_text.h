// Reading the Prometheus text exposition format (0.0.4), as kobs's own
// /metrics writes it, into samples: what `kobs top` and the status page
// summarise. Written here because no packaged C++ library parses it
// (prometheus-cpp only writes it), and the subset kobs emits is small: one
// sample per line, `name{k="v",...} value`, `#` lines skipped, label values
// with \\, \" and \n escapes. Timestamps after the value are ignored.
//
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kobs::metrics {

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;

  // The label's value, or "" when the sample has no such label.
  const std::string& label(std::string_view key) const;
};

struct ParsedText {
  std::vector<Sample> samples;
  size_t bad_lines = 0;  // lines that are neither comments nor samples
};

ParsedText parsePrometheusText(std::string_view text);

// One sample line; nullopt when it is not one.
std::optional<Sample> parseSampleLine(std::string_view line);

}  // namespace kobs::metrics
