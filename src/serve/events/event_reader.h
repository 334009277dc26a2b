// EventReader: the queries the events API runs against the composition-keyed
// events table (store/schema/krateo_events.h). Every query filters out rows
// without a reason, as the old proxy did.
//
// Threading: stateless over a thread-safe IStore; methods block on the store
// (call them from worker threads, never from an io thread).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "serve/events/k8s_event.h"
#include "store/store.h"

namespace kobs::serve::events {

class EventReader {
 public:
  // `database` and `table` unquoted.
  EventReader(store::IStore& store, std::string database, std::string table);

  // Newest first (by the row's Timestamp, then row_key), at most `limit`.
  // `composition_id` filters to one composition; `before` continues a
  // listing after the last row of the previous page.
  std::vector<StoredEvent> newest(const std::optional<std::string>& composition_id, size_t limit,
                                  const std::optional<EventCursor>& before = std::nullopt) const;

  // Rows after `after` in cursor order, at most `limit`.
  std::vector<StoredEvent> after(const EventCursor& after, size_t limit) const;

  // Cursors of rows with ingest_time in [from_ns, upto.ingest_ns] and cursor
  // <= upto (the tailer's late-row check).
  std::vector<EventCursor> cursorsBetween(int64_t from_ns, const EventCursor& upto) const;

  // The rows with these cursors, in cursor order.
  std::vector<StoredEvent> byCursors(const std::vector<EventCursor>& cursors) const;

  // The largest cursor stored (zero when the table is empty).
  EventCursor maxCursor() const;

  const std::string& table() const { return table_; }

 private:
  std::vector<StoredEvent> select(const std::string& where, const std::string& order, size_t limit) const;

  std::string qualified() const;

  store::IStore& store_;
  std::string database_;
  std::string table_;
};

}  // namespace kobs::serve::events
