// The composition-keyed events table: one row per Kubernetes event
// notification in otel_logs, with the columns the Krateo frontend API reads
// extracted once (by a materialized view at insert time) instead of running
// JSONExtract over Body on every request.
//
//   krateo_events      MergeTree ORDER BY (composition_id, ts, row_key):
//                      /events/{id} reads one key range, newest first in order.
//   krateo_events_mv   otel_logs WHERE ResourceAttributes['telemetry.source'] =
//                      'k8s-events' -> krateo_events.
//
// The SSE cursor: every row carries (ingest_time, ts, row_key).
//   ingest_time  the order rows became part of the table. All rows of one
//                insert share it: the time kobs assigned to the batch before
//                writing it to its disk buffer, passed with the insert as
//                `log_comment = 'kobs-ingest-ns=<ns>'` (kIngestCommentPrefix),
//                so kobs all can publish a row to its streams with the cursor
//                the store will give it, as soon as the batch is durable;
//                now64(9) on the server for any other insert (other writers,
//                kobs before this). ts (the row's Timestamp) and row_key
//                (sipHash64 of Timestamp and Body) order rows inside one
//                insert totally.
// Rows are visible in ingest_time order when one writer inserts sequentially
// (kobs's pipeline; the events receiver is leader-elected). With several
// writers, or a cluster whose nodes' clocks differ, a row can become visible
// after a row with a later ingest_time: the tailer re-reads a lookback window
// to catch such rows (see serve/events/event_feed.h).
//
// Cluster mode: a Replicated <table>_local plus a Distributed <table>, and the
// view on each node's local logs table writing its local events table.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/schema/schema_options.h"

namespace kobs::store::schema {

struct SchemaObject;

// The events table and its view, for buildSchemaObjects() (table(s) first).
std::vector<SchemaObject> eventsSchemaObjects(const SchemaOptions& options);

// Copies k8s-event rows already in the logs table (older than `before_ns`,
// nanoseconds since the epoch) into a freshly created events table; their
// ingest_time is their Timestamp, so they are history, never pushed live.
// With `day` (YYYY-MM-DD) only that day's rows, so a long copy goes day by
// day and can report its progress.
std::string eventsBackfillSql(const SchemaOptions& options, int64_t before_ns, std::string_view day = {});
// TabSeparated `day<TAB>rows` of the rows eventsBackfillSql() would copy.
std::string eventsBackfillDaysSql(const SchemaOptions& options, int64_t before_ns);

// Name of the view that fills the events table.
std::string eventsViewName(const SchemaOptions& options);

// The log_comment prefix of an insert whose ingest_time kobs assigned, and
// the setting that carries it.
inline constexpr std::string_view kIngestCommentPrefix = "kobs-ingest-ns=";
std::string ingestComment(int64_t ingest_ns);
// Whether a view's CREATE statement takes ingest_time from the insert (views
// created before it use now64(9) only).
bool viewTakesIngestFromInsert(std::string_view create_query);

}  // namespace kobs::store::schema
