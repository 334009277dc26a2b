// LocalEvent: the krateo_events row the store's view will make of one
// otel_logs record (store/schema/krateo_events.cc), computed in kobs from
// the record itself, so kobs all can publish an event to its streams as
// soon as its batch is durable in the disk buffer, with the cursor and the
// bytes a replay from the store gives later. Every field follows the view's
// expression: JSONExtractString over Body (the first of duplicate keys, ''
// for null or a missing path, a non-string value's compact JSON), LogAttributes / ResourceAttributes
// as the encoder writes them (the last of duplicate keys), row_key as
// sipHash64(Timestamp, Body), event_time's fallback to the Timestamp in
// whole seconds. tests/serve/events/local_event_test.cc holds it to chDB.
//
// Threading: pure functions; a LocalEvent is immutable once built.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "pipeline/record.h"
#include "serve/events/k8s_event.h"

namespace kobs::serve::events {

struct LocalEvent {
  StoredEvent row;  // cursor.ingest_ns is 0: the batch's ingest time is added when it is sealed
  std::string event_uid;     // object.metadata.uid
  std::string cluster_name;  // ResourceAttributes['k8s.cluster.name']
  std::string raw;           // JSONExtractRaw(Body, 'object')
};

// Null when the view would not take the record (not a k8s-events row) or
// readers would not show it (an empty reason), or Body is not JSON.
std::shared_ptr<const LocalEvent> localEventFromLog(const pipeline::LogRecord& record);

}  // namespace kobs::serve::events
