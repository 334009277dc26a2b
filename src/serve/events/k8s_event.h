// One Kubernetes event as the serving side reads it from the events table,
// its durable cursor, and its SSEK8sEvent JSON (contract §4).
//
// Cursor: (ingest_time ns, ts ns, row_key), the events table's total order of
// arrival (store/schema/krateo_events.h). Written "<ingest>-<ts>-<key>" in
// decimal. An SSE frame id adds which frame of the event it is:
// "<cursor>:0" for the `krateo` frame, "<cursor>:1" for the composition frame,
// so a stream cut between the two frames resumes with the second.
//
// Threading: plain values and pure functions.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kobs::serve::events {

struct EventCursor {
  int64_t ingest_ns = 0;
  int64_t ts_ns = 0;
  uint64_t key = 0;

  auto operator<=>(const EventCursor&) const = default;
  bool isZero() const { return ingest_ns == 0 && ts_ns == 0 && key == 0; }
  std::string str() const;
  // "<ingest>-<ts>-<key>"; nullopt when malformed.
  static std::optional<EventCursor> parse(std::string_view text);
};

// A resume point: the cursor of the last event seen and how many of its
// frames were seen (1: the krateo frame only; 2: both, or the event had one).
struct ResumePoint {
  EventCursor cursor;
  int frames_seen = 2;
  // "<cursor>:<frame>" (frame 0 or 1) or a bare "<cursor>"; nullopt when malformed.
  static std::optional<ResumePoint> parse(std::string_view text);
};

struct StoredEvent {
  EventCursor cursor;
  std::string composition_id;
  std::string obj_apiversion, obj_kind, obj_name, obj_namespace, obj_uid;
  std::string reason, message, type, source_component;
  std::string event_time;  // eventTime, else lastTimestamp, else Timestamp as %Y-%m-%dT%H:%M:%SZ
};

// The SSEK8sEvent object: compact, keys in contract order, every value a
// string, HTML-unsafe characters escaped as Go's encoding/json does (the old
// proxy's bytes).
std::string sseK8sEventJson(const StoredEvent& e);

// The SSE id of frame `frame` (0 krateo, 1 composition) of an event.
std::string frameId(const EventCursor& c, int frame);

}  // namespace kobs::serve::events
