// SchemaManager: makes the store's schema usable by kobs, idempotently.
//
//   - creates the database, tables and trace-id view that are missing;
//   - never recreates or alters the columns of a table that exists (ClickStack's,
//     the stock exporter's, or a user's): reads its layout instead, and
//     refuses to start (kSchemaMismatch) when a column kobs needs is missing;
//   - gives every plain MergeTree table a non_replicated_deduplication_window,
//     so a replayed batch with the same insert_deduplication_token stores
//     nothing; refuses to start, saying why, when that cannot be set.
// The returned Schema tells encoders which columns each table really has.
//
// Threading: apply() runs DDL through the IStore; call it once at start from
// one thread. Schema is an immutable value afterwards, safe to share.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "store/schema/schema_options.h"
#include "store/schema/table_layout.h"
#include "store/store.h"

namespace kobs::store::schema {

struct Schema {
  ServerInfo server;
  bool text_indexes = false;                // what kobs would create on this server
  std::map<TableKind, TableLayout> tables;  // every kind, as the server has it now
  std::vector<std::string> created;         // objects this apply() created ("db.name")
  std::vector<std::string> altered;         // tables whose dedup window apply() set
  // The events view takes ingest_time from kobs's inserts (krateo_events.h):
  // kobs all may publish rows to its streams before they are stored.
  bool events_ingest_from_insert = false;

  // Throws kNotFound for a kind that is not there (never after a successful apply()).
  const TableLayout& table(TableKind kind) const;
};

class SchemaManager {
 public:
  // Detects the server version, then applies.
  static Schema apply(IStore& store, const SchemaOptions& options);
  static Schema apply(IStore& store, const SchemaOptions& options, const ServerInfo& server);
};

}  // namespace kobs::store::schema
