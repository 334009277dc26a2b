#include "store/schema/ddl.h"

#include <fmt/format.h>

#include "store/schema/krateo_events.h"
#include "store/schema/otel_tables.h"
#include "store/store.h"

namespace kobs::store::schema {
namespace {

std::string qualified(const std::string& db, const std::string& name) {
  return quoteIdentifier(db) + "." + quoteIdentifier(name);
}

std::string onCluster(const SchemaOptions& o) {
  return o.cluster.enabled() ? " ON CLUSTER " + quoteIdentifier(o.cluster.name) : "";
}

std::string engineClause(const SchemaOptions& o) {
  if (!o.cluster.enabled()) return "MergeTree";
  return fmt::format("ReplicatedMergeTree({}, {})", quoteString(o.cluster.zookeeper_path),
                     quoteString(o.cluster.replica_name));
}

std::string createTable(const SchemaOptions& o, const TableDef& def, const std::string& name) {
  std::string sql = fmt::format("CREATE TABLE IF NOT EXISTS {}{}\n(\n", qualified(o.database, name), onCluster(o));
  std::vector<std::string> lines;
  for (const auto& c : def.columns) {
    std::string line = "    " + quoteIdentifier(c.name) + " " + c.type;
    if (!c.tail.empty()) line += " " + c.tail;
    lines.push_back(std::move(line));
  }
  for (const auto& i : def.indexes) {
    std::string line = fmt::format("    INDEX {} {} TYPE {}", i.name, i.expression, i.type);
    if (i.granularity > 0) line += fmt::format(" GRANULARITY {}", i.granularity);
    lines.push_back(std::move(line));
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    sql += lines[i];
    sql += i + 1 < lines.size() ? ",\n" : "\n";
  }
  sql += ")\nENGINE = " + engineClause(o) + "\n";
  sql += "PARTITION BY " + def.partition_by + "\n";
  if (!def.primary_key.empty()) sql += "PRIMARY KEY " + def.primary_key + "\n";
  sql += "ORDER BY " + def.order_by + "\n";
  if (auto ttl = renderTtl(o.ttl, def.ttl_time); !ttl.empty()) sql += ttl + "\n";
  std::vector<std::string> settings = def.settings;
  // Replicated tables deduplicate by default; plain MergeTree needs a window
  // for insert_deduplication_token to drop a replayed batch.
  if (!o.cluster.enabled() && o.deduplication_window > 0)
    settings.push_back(fmt::format("non_replicated_deduplication_window = {}", o.deduplication_window));
  sql += "SETTINGS " + fmt::format("{}", fmt::join(settings, ", "));
  return sql;
}

std::string createDistributed(const SchemaOptions& o, const std::string& name, const std::string& local) {
  return fmt::format("CREATE TABLE IF NOT EXISTS {}{}\nAS {}\nENGINE = Distributed({}, {}, {}, {})",
                     qualified(o.database, name), onCluster(o), qualified(o.database, local),
                     quoteString(o.cluster.name), quoteString(o.database), quoteString(local), o.cluster.sharding_key);
}

}  // namespace

std::string createTableSql(const SchemaOptions& options, const TableDef& def, const std::string& name) {
  return createTable(options, def, name);
}
std::string createDistributedSql(const SchemaOptions& options, const std::string& name, const std::string& local) {
  return createDistributed(options, name, local);
}

std::string traceIdViewName(const SchemaOptions& options) {
  return tableName(options, TableKind::kTraceIdTs) + "_mv";
}

std::vector<SchemaObject> buildSchemaObjects(const SchemaOptions& o, const ServerInfo& server) {
  const bool text = useTextIndexes(o, server);
  std::vector<SchemaObject> out;
  out.push_back({SchemaObject::Type::kDatabase, std::nullopt, o.database, o.database,
                 fmt::format("CREATE DATABASE IF NOT EXISTS {}{}", quoteIdentifier(o.database), onCluster(o))});
  for (TableKind kind : allTableKinds()) {
    const TableDef def = tableDef(kind, o.variant, text);
    const std::string name = tableName(o, kind);
    if (!o.cluster.enabled()) {
      out.push_back({SchemaObject::Type::kTable, kind, o.database, name, createTable(o, def, name)});
      continue;
    }
    const std::string local = name + o.cluster.local_suffix;
    out.push_back({SchemaObject::Type::kLocalTable, kind, o.database, local, createTable(o, def, local)});
    out.push_back({SchemaObject::Type::kDistributedTable, kind, o.database, name, createDistributed(o, name, local)});
  }
  // The view runs where rows land: on each node's local traces table in
  // cluster mode, writing that node's local lookup table.
  const std::string suffix = o.cluster.enabled() ? o.cluster.local_suffix : "";
  const std::string traces = tableName(o, TableKind::kTraces) + suffix;
  const std::string lookup = tableName(o, TableKind::kTraceIdTs) + suffix;
  const std::string view = traceIdViewName(o);
  out.push_back({SchemaObject::Type::kMaterializedView, std::nullopt, o.database, view,
                 fmt::format("CREATE MATERIALIZED VIEW IF NOT EXISTS {}{}\nTO {}\nAS SELECT\n"
                             "    TraceId,\n    min(Timestamp) AS Start,\n    max(Timestamp) AS End\n"
                             "FROM {}\nWHERE TraceId != ''\nGROUP BY TraceId",
                             qualified(o.database, view), onCluster(o), qualified(o.database, lookup),
                             qualified(o.database, traces))});
  if (o.krateo_events)
    for (auto& obj : eventsSchemaObjects(o)) out.push_back(std::move(obj));
  return out;
}

std::vector<std::string> buildSchema(const SchemaOptions& options, const ServerInfo& server) {
  std::vector<std::string> out;
  for (auto& obj : buildSchemaObjects(options, server)) out.push_back(std::move(obj.sql));
  return out;
}

std::string printSchema(const SchemaOptions& options, const ServerInfo& server) {
  std::string out;
  for (const auto& s : buildSchema(options, server)) {
    if (!out.empty()) out += ";\n\n";
    out += s;
  }
  if (!out.empty()) out += ";\n";
  return out;
}

}  // namespace kobs::store::schema
