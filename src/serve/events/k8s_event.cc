#include "serve/events/k8s_event.h"

#include <charconv>

#include <fmt/format.h>

namespace kobs::serve::events {
namespace {

template <typename T>
bool parseNumber(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Length of a valid UTF-8 sequence at s[i], or 0.
size_t utf8Length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (c >= 0xF5 || (c >= 0x80 && c < 0xC2)) return 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  const auto c1 = static_cast<unsigned char>(s[i + 1]);
  if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
  if (c == 0xED && c1 >= 0xA0) return 0; // surrogates
  if (c == 0xF0 && c1 < 0x90) return 0;
  if (c == 0xF4 && c1 >= 0x90) return 0;
  return n;
}

}  // namespace

std::string EventCursor::str() const { return fmt::format("{}-{}-{}", ingest_ns, ts_ns, key); }

std::optional<EventCursor> EventCursor::parse(std::string_view text) {
  auto d1 = text.find('-');
  if (d1 == std::string_view::npos) return std::nullopt;
  auto d2 = text.find('-', d1 + 1);
  if (d2 == std::string_view::npos) return std::nullopt;
  EventCursor c;
  if (!parseNumber(text.substr(0, d1), c.ingest_ns) || !parseNumber(text.substr(d1 + 1, d2 - d1 - 1), c.ts_ns) ||
      !parseNumber(text.substr(d2 + 1), c.key))
    return std::nullopt;
  return c;
}

std::optional<ResumePoint> ResumePoint::parse(std::string_view text) {
  ResumePoint p;
  auto colon = text.find(':');
  if (colon != std::string_view::npos) {
    auto frame = text.substr(colon + 1);
    if (frame == "0") p.frames_seen = 1;
    else if (frame == "1") p.frames_seen = 2;
    else return std::nullopt;
    text = text.substr(0, colon);
  }
  auto c = EventCursor::parse(text);
  if (!c) return std::nullopt;
  p.cursor = *c;
  return p;
}

std::string frameId(const EventCursor& c, int frame) { return fmt::format("{}:{}", c.str(), frame); }

void appendGoJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const size_t n = utf8Length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    // U+2028 / U+2029 (E2 80 A8/A9) break JavaScript string literals.
    if (n == 3 && c == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xA8) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  out.push_back('"');
}

std::string sseK8sEventJson(const StoredEvent& e) {
  std::string o;
  o.reserve(256 + e.message.size());
  auto kv = [&o](std::string_view key, std::string_view value, bool comma = true) {
    if (comma) o.push_back(',');
    o.push_back('"');
    o.append(key);
    o += "\":";
    appendGoJsonString(o, value);
  };
  o += "{\"metadata\":{";
  kv("name", e.obj_name, false);
  kv("namespace", e.obj_namespace);
  kv("uid", e.obj_uid);
  kv("creationTimestamp", e.event_time);
  o += "},\"involvedObject\":{";
  kv("apiVersion", e.obj_apiversion, false);
  kv("kind", e.obj_kind);
  kv("name", e.obj_name);
  kv("namespace", e.obj_namespace);
  kv("uid", e.obj_uid);
  o += "}";
  kv("reason", e.reason);
  kv("message", e.message);
  kv("type", e.type);
  kv("firstTimestamp", e.event_time);
  kv("lastTimestamp", e.event_time);
  kv("eventTime", e.event_time);
  o += ",\"source\":{";
  kv("component", e.source_component, false);
  o += "}}";
  return o;
}

}  // namespace kobs::serve::events
