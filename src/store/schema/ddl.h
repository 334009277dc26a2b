// DDL generation: SchemaOptions + ServerInfo -> the ordered statements that
// create kobs's database, tables and the trace-id materialized view, for one
// node or a cluster. No I/O; `kobs schema print` prints exactly this.
//
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "store/schema/schema_options.h"

namespace kobs::store::schema {

// One object the schema creates, with the statement that creates it.
struct SchemaObject {
  enum class Type : uint8_t { kDatabase, kTable, kLocalTable, kDistributedTable, kMaterializedView };
  Type type;
  std::optional<TableKind> kind;  // unset for the database and the view
  std::string database;
  std::string name;  // unquoted object name (database name for kDatabase)
  std::string sql;
};

// In creation order: database; per kind, the table (cluster mode: the
// Replicated local table, then the Distributed one); last the view.
std::vector<SchemaObject> buildSchemaObjects(const SchemaOptions& options, const ServerInfo& server);

std::vector<std::string> buildSchema(const SchemaOptions& options, const ServerInfo& server);

// Statements separated by ";\n\n", ending with ";\n".
std::string printSchema(const SchemaOptions& options, const ServerInfo& server);

// CREATE TABLE for one definition under these options (engine, TTL, dedup
// window and ON CLUSTER as for every kobs table), and the Distributed table
// over a local one in cluster mode. Shared with krateo_events.cc.
struct TableDef;
std::string createTableSql(const SchemaOptions& options, const TableDef& def, const std::string& name);
std::string createDistributedSql(const SchemaOptions& options, const std::string& name, const std::string& local);

// Name of the materialized view that fills the trace-id lookup table.
std::string traceIdViewName(const SchemaOptions& options);

}  // namespace kobs::store::schema
