// One event as the events-presenter API serves it (the current Krateo
// frontend's shape), and its page cursor.
//
// Item JSON, keys in events-presenter's order:
//   event_id (the Event's metadata.uid; omitted when empty), global_uid
//   ("<cluster_name>:<event uid>"), cluster_name, namespace, resource_kind,
//   resource_name, involved_object_uid (omitted when empty), event_type,
//   reason, message (always strings: the EventList widget drops items where
//   they are not), composition_id (omitted when empty), created_at
//   (RFC3339Nano, the row's Timestamp), raw (the core/v1 Event as a JSON
//   string; not in SSE frames).
//
// Page cursor: the (created_at, global_uid) of a page's last item, as
// base64url without padding of {"created_at":"...","global_uid":"..."} — the
// frontend appends it to the URL unencoded, so it must be URL-safe. Decoding is
// lenient (standard alphabet, padding, and '+' turned into ' ' by the query
// decoder are accepted).
//
// Threading: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "serve/events/event_feed.h"
#include "serve/events/k8s_event.h"

namespace kobs::serve::presenter {

struct PresenterItem {
  events::EventCursor cursor;  // the row's stream position (SSE id)
  std::string event_uid;
  std::string cluster_name;
  std::string global_uid;
  std::string ns, kind, name, obj_uid;
  std::string type, reason, message, composition_id;
  int64_t created_ns = 0;
  std::string raw;
};

// The item of an event published ahead of the store (FeedEvent::local set),
// as PresenterReader would read its row; nullopt for other events.
std::optional<PresenterItem> itemFromFeed(const events::FeedEvent& e, const std::string& default_cluster,
                                          bool with_raw);

// `with_raw` false: the SSE item.
std::string itemJson(const PresenterItem& item, bool with_raw);

struct PageCursor {
  int64_t created_ns = 0;
  std::string global_uid;

  std::string encode() const;
  static std::optional<PageCursor> decode(std::string_view text);
};

// 2026-03-15T10:00:00.123456789Z (trailing zeros of the fraction trimmed, as
// Go's RFC3339Nano does).
std::string rfc3339Nano(int64_t ns);

}  // namespace kobs::serve::presenter
