#include "serve/events/k8s_event.h"

#include <charconv>

#include <fmt/format.h>

#include "common/json_escape.h"

namespace kobs::serve::events {
namespace {

template <typename T>
bool parseNumber(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
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

std::string sseK8sEventJson(const StoredEvent& e) {
  std::string o;
  o.reserve(256 + e.message.size());
  auto kv = [&o](std::string_view key, std::string_view value, bool comma = true) {
    if (comma) o.push_back(',');
    o.push_back('"');
    o.append(key);
    o += "\":";
    kobs::json::appendString(o, value, kobs::json::Escape::kGo);
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
