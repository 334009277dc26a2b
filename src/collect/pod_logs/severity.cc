#include "collect/pod_logs/severity.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace kobs::collect::pod_logs {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

bool wordChar(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// A value after `key=` or `"key":`, as written (quotes removed).
std::string_view valueAt(std::string_view s, size_t pos) {
  if (pos < s.size() && s[pos] == '"') {
    const size_t end = s.find('"', pos + 1);
    return end == std::string_view::npos ? std::string_view{} : s.substr(pos + 1, end - pos - 1);
  }
  size_t end = pos;
  while (end < s.size() && wordChar(s[end])) ++end;
  return s.substr(pos, end - pos);
}

}  // namespace

uint8_t severityNumber(std::string_view w) {
  struct Entry {
    std::string_view word;
    uint8_t number;
  };
  static constexpr std::array<Entry, 17> kWords{{{"trace", 1},
                                                 {"debug", 5},
                                                 {"dbg", 5},
                                                 {"info", 9},
                                                 {"information", 9},
                                                 {"notice", 10},
                                                 {"warn", 13},
                                                 {"warning", 13},
                                                 {"error", 17},
                                                 {"err", 17},
                                                 {"critical", 18},
                                                 {"crit", 18},
                                                 {"alert", 19},
                                                 {"fatal", 21},
                                                 {"panic", 21},
                                                 {"emergency", 22},
                                                 {"emerg", 22}}};
  for (const auto& e : kWords)
    if (iequals(w, e.word)) return e.number;
  return 0;
}

std::optional<Severity> detectSeverity(std::string_view body) {
  const std::string_view head = body.substr(0, std::min<size_t>(body.size(), 512));
  size_t i = 0;
  while (i < head.size() && (head[i] == ' ' || head[i] == '\t')) ++i;
  // JSON: "level" or "severity" (first match among the first bytes).
  if (i < head.size() && head[i] == '{') {
    for (std::string_view key : {"\"level\"", "\"severity\"", "\"lvl\""}) {
      size_t k = head.find(key);
      if (k == std::string_view::npos) continue;
      size_t p = k + key.size();
      while (p < head.size() && (head[p] == ' ' || head[p] == ':')) ++p;
      auto v = valueAt(head, p);
      if (auto n = severityNumber(v)) return Severity{n, v};
    }
    return std::nullopt;
  }
  // A leading word, bare or in brackets: "ERROR ...", "[warn] ...", "WARN: ...".
  {
    size_t p = i;
    if (p < head.size() && (head[p] == '[' || head[p] == '<')) ++p;
    size_t end = p;
    while (end < head.size() && wordChar(head[end])) ++end;
    const bool delimited = end == head.size() || !std::isalnum(static_cast<unsigned char>(head[end]));
    if (end > p && delimited)
      if (auto n = severityNumber(head.substr(p, end - p))) return Severity{n, head.substr(p, end - p)};
  }
  // logfmt: level=, lvl=, severity= at a field start.
  for (std::string_view key : {"level=", "lvl=", "severity="}) {
    for (size_t k = head.find(key); k != std::string_view::npos; k = head.find(key, k + 1)) {
      if (k > 0 && head[k - 1] != ' ' && head[k - 1] != '\t') continue;
      auto v = valueAt(head, k + key.size());
      if (auto n = severityNumber(v)) return Severity{n, v};
    }
  }
  return std::nullopt;
}

}  // namespace kobs::collect::pod_logs
