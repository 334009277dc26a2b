// TableLayout: a table as the server has it (columns in table order, engine,
// the non-replicated dedup window), read through system.columns and
// system.tables. Encoders write exactly layout.insertableColumns(), in order.
//
// Threading: describeTable/detectServer issue queries through the IStore
// (thread-safe); the structs are plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/schema/schema_options.h"
#include "store/store.h"

namespace kobs::store::schema {

struct ColumnInfo {
  std::string name;                // e.g. "Events.Timestamp" (Nested is flattened)
  std::string type;                // e.g. "Map(LowCardinality(String), String)"
  std::string default_kind;        // "", "DEFAULT", "MATERIALIZED", "ALIAS", "EPHEMERAL"
  std::string default_expression;  // e.g. "toDateTime(Timestamp)"

  // A column an INSERT may name: not computed by the server (MATERIALIZED,
  // ALIAS). DEFAULT and EPHEMERAL columns may be written.
  bool insertable() const { return default_kind != "MATERIALIZED" && default_kind != "ALIAS"; }
  bool operator==(const ColumnInfo&) const = default;
};

struct TableLayout {
  std::string database;
  std::string table;
  bool exists = false;
  std::string engine;             // system.tables.engine: "MergeTree", "ReplicatedMergeTree", "Distributed", ...
  std::string engine_full;        // engine with its clauses and SETTINGS
  std::string create_table_query;
  // The table's effective non_replicated_deduplication_window (its own
  // setting, else the server's merge_tree default).
  uint64_t deduplication_window = 0;
  std::vector<ColumnInfo> columns;  // every column, in table order

  // Columns an INSERT may name, in table order.
  std::vector<ColumnInfo> insertableColumns() const;
  std::vector<std::string> insertableColumnNames() const;
  const ColumnInfo* find(std::string_view name) const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
  // Replicated/Shared MergeTree: deduplicates inserts by default.
  bool isReplicated() const;
  // A MergeTree-family engine that is not replicated: needs the dedup window.
  bool isPlainMergeTree() const;
};

// Reads a table's layout; exists=false (and nothing else set) when it is absent.
TableLayout describeTable(IStore& store, const std::string& database, const std::string& table);

// True when a table, view or dictionary of that name exists.
bool tableExists(IStore& store, const std::string& database, const std::string& table);

// SELECT version().
ServerInfo detectServer(IStore& store);

// The value of `non_replicated_deduplication_window = N` in an engine_full
// string, or -1 when the setting is not there.
int64_t parseDeduplicationWindow(std::string_view engine_full);

}  // namespace kobs::store::schema
