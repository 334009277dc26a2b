#include "common/prometheus_text.h"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace kobs::metrics {
namespace {

bool nameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

std::optional<double> parseValue(std::string_view v) {
  if (v == "+Inf" || v == "Inf") return std::numeric_limits<double>::infinity();
  if (v == "-Inf") return -std::numeric_limits<double>::infinity();
  if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
  std::string s(v);  // strtod needs a terminated string
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

}  // namespace

const std::string& Sample::label(std::string_view key) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : labels)
    if (k == key) return v;
  return kEmpty;
}

std::optional<Sample> parseSampleLine(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && nameChar(line[i], i == 0)) ++i;
  if (i == 0) return std::nullopt;
  Sample s;
  s.name.assign(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      size_t k = i;
      while (i < line.size() && nameChar(line[i], i == k)) ++i;
      if (i == k || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return std::nullopt;
      std::string key(line.substr(k, i - k));
      i += 2;
      std::string value;
      for (; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) {
          ++i;
          value += line[i] == 'n' ? '\n' : line[i];
        } else {
          value += line[i];
        }
      }
      if (i >= line.size()) return std::nullopt;  // unterminated value
      ++i;
      s.labels.emplace_back(std::move(key), std::move(value));
    }
  }
  while (i < line.size() && line[i] == ' ') ++i;
  size_t end = line.find(' ', i);
  auto v = parseValue(line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
  if (!v) return std::nullopt;
  s.value = *v;
  return s;
}

ParsedText parsePrometheusText(std::string_view text) {
  ParsedText out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (auto s = parseSampleLine(line))
      out.samples.push_back(std::move(*s));
    else
      ++out.bad_lines;
  }
  return out;
}

}  // namespace kobs::metrics
