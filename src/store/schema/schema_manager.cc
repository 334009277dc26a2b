#include "store/schema/schema_manager.h"

#include "common/error.h"
#include "common/logging.h"
#include "common/progress.h"
#include <algorithm>
#include <chrono>

#include "store/schema/ddl.h"
#include "store/schema/krateo_events.h"
#include "store/schema/otel_tables.h"

namespace kobs::store::schema {
namespace {

bool databaseExists(IStore& store, const std::string& database) {
  auto r = store.query(fmt::format("SELECT count() FROM system.databases WHERE name = {}", quoteString(database)),
                       "TabSeparated");
  return !r.data.empty() && r.data[0] != '0';
}

void checkRequired(TableKind kind, const TableLayout& layout) {
  for (const auto& col : requiredColumns(kind)) {
    if (!layout.has(col))
      throw Exception(ErrorCode::kSchemaMismatch,
                      "table {}.{} ({} table) has no column {}, which kobs needs; add the column or point kobs at "
                      "another table",
                      layout.database, layout.table, tableKindName(kind), col);
  }
}

// Gives a plain MergeTree table a dedup window, or explains why kobs cannot run.
void ensureDeduplicationWindow(IStore& store, const SchemaOptions& options, TableLayout& layout, Schema& schema) {
  if (options.deduplication_window == 0 || !layout.isPlainMergeTree() || layout.deduplication_window > 0) return;
  const std::string sql =
      fmt::format("ALTER TABLE {}.{} MODIFY SETTING non_replicated_deduplication_window = {}",
                  quoteIdentifier(layout.database), quoteIdentifier(layout.table), options.deduplication_window);
  try {
    store.execute(sql);
  } catch (const Exception& e) {
    throw Exception(ErrorCode::kSchemaMismatch,
                    "table {}.{} is a non-replicated {} without non_replicated_deduplication_window, so a replayed "
                    "batch would be stored twice, and setting it failed: {}. Run `{}` as a user allowed to, then "
                    "start kobs again",
                    layout.database, layout.table, layout.engine, e.what(), sql);
  }
  layout = describeTable(store, layout.database, layout.table);
  if (layout.deduplication_window == 0)
    throw Exception(ErrorCode::kSchemaMismatch,
                    "table {}.{}: non_replicated_deduplication_window is still 0 after `{}`", layout.database,
                    layout.table, sql);
  schema.altered.push_back(layout.database + "." + layout.table);
}

}  // namespace

const TableLayout& Schema::table(TableKind kind) const {
  auto it = tables.find(kind);
  if (it == tables.end())
    throw Exception(ErrorCode::kNotFound, "schema has no {} table", tableKindName(kind));
  return it->second;
}

namespace {

// Day by day, so a copy of months of history logs its progress.
void backfillEvents(IStore& store, const SchemaOptions& options, int64_t before_ns) {
  std::vector<std::pair<std::string, uint64_t>> days;
  uint64_t total = 0;
  const auto tsv = store.query(eventsBackfillDaysSql(options, before_ns), "TabSeparated").data;
  for (size_t pos = 0; pos < tsv.size();) {
    size_t nl = tsv.find('\n', pos);
    if (nl == std::string::npos) nl = tsv.size();
    const std::string line = tsv.substr(pos, nl - pos);
    pos = nl + 1;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    days.emplace_back(line.substr(0, tab), std::stoull(line.substr(tab + 1)));
    total += days.back().second;
  }
  if (total == 0) return;
  ProgressLog progress("schema", fmt::format("copying existing k8s events into {}.{}", options.database,
                                             options.events_table),
                       total, "rows");
  for (const auto& [day, rows] : days) {
    store.execute(eventsBackfillSql(options, before_ns, day));
    progress.add(rows);
  }
  progress.finish();
}

}  // namespace

Schema SchemaManager::apply(IStore& store, const SchemaOptions& options) {
  return apply(store, options, detectServer(store));
}

Schema SchemaManager::apply(IStore& store, const SchemaOptions& options, const ServerInfo& server) {
  auto log = logging::get("schema");
  Schema schema;
  schema.server = server;
  schema.text_indexes = useTextIndexes(options, server);
  const auto objects = buildSchemaObjects(options, server);

  auto create = [&](const SchemaObject& obj) {
    try {
      store.execute(obj.sql);
    } catch (Exception& e) {
      e.addContext(fmt::format("while creating {}.{}", obj.database, obj.name));
      throw;
    }
    schema.created.push_back(obj.type == SchemaObject::Type::kDatabase ? obj.name : obj.database + "." + obj.name);
    log->info("schema: created {}", schema.created.back());
  };

  // Refuse before creating anything when a table that is already there lacks
  // a column, so a failed start leaves the store as it found it.
  for (TableKind kind : allTableKinds()) {
    TableLayout existing = describeTable(store, options.database, tableName(options, kind));
    if (existing.exists) checkRequired(kind, existing);
  }

  // Tables first; the view last, once the tables it reads and writes are known good.
  for (const auto& obj : objects) {
    switch (obj.type) {
      case SchemaObject::Type::kDatabase:
        if (!databaseExists(store, obj.database)) create(obj);
        break;
      case SchemaObject::Type::kTable:
      case SchemaObject::Type::kLocalTable:
      case SchemaObject::Type::kDistributedTable:
        if (!tableExists(store, obj.database, obj.name)) create(obj);
        break;
      case SchemaObject::Type::kMaterializedView:
        break;
    }
  }

  for (TableKind kind : allTableKinds()) {
    TableLayout layout = describeTable(store, options.database, tableName(options, kind));
    if (!layout.exists)
      throw Exception(ErrorCode::kSchemaMismatch, "table {}.{} ({} table) does not exist after schema apply",
                      options.database, tableName(options, kind), tableKindName(kind));
    checkRequired(kind, layout);
    ensureDeduplicationWindow(store, options, layout, schema);
    log->debug("schema: {} -> {}.{} ({} columns, engine {})", tableKindName(kind), layout.database, layout.table,
               layout.columns.size(), layout.engine);
    schema.tables.emplace(kind, std::move(layout));
  }
  // In cluster mode the local tables carry the data; check their windows too
  // when this node has them (Replicated ones need none).
  if (options.cluster.enabled()) {
    for (TableKind kind : allTableKinds()) {
      TableLayout local = describeTable(store, options.database, tableName(options, kind) + options.cluster.local_suffix);
      if (local.exists) ensureDeduplicationWindow(store, options, local, schema);
    }
  }

  // A new events table gets the k8s-event rows already in the logs table
  // (written by the old stack, or before kobs had the table). The view goes
  // live first; rows observed before that instant are copied once.
  const bool events_new = options.krateo_events &&
      std::find(schema.created.begin(), schema.created.end(), options.database + "." + options.events_table) !=
          schema.created.end();
  const int64_t view_start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string events_view = eventsViewName(options);
  for (const auto& obj : objects) {
    if (obj.type != SchemaObject::Type::kMaterializedView) continue;
    if (!tableExists(store, obj.database, obj.name)) {
      create(obj);
      continue;
    }
    // An events view from before kobs assigned ingest_time: the embedded
    // store is this process's alone and nothing inserts yet, so it is
    // replaced (a view holds no rows); a server's is left as its owner made it.
    if (options.krateo_events && obj.name == events_view && store.kind() == "embedded" &&
        !viewTakesIngestFromInsert(describeTable(store, obj.database, obj.name).create_table_query)) {
      store.execute(fmt::format("DROP VIEW {}.{}", quoteIdentifier(obj.database), quoteIdentifier(obj.name)));
      create(obj);
    }
  }
  if (options.krateo_events && !options.cluster.enabled())
    schema.events_ingest_from_insert =
        viewTakesIngestFromInsert(describeTable(store, options.database, events_view).create_table_query);
  if (events_new) {
    try {
      backfillEvents(store, options, view_start_ns);
    } catch (Exception& e) {
      e.addContext(fmt::format("while copying existing k8s events into {}.{}", options.database, options.events_table));
      throw;
    }
  }
  return schema;
}

}  // namespace kobs::store::schema
