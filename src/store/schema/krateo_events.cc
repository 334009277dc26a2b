#include "store/schema/krateo_events.h"

#include <fmt/format.h>

#include "common/error.h"

#include "store/schema/ddl.h"
#include "store/schema/otel_tables.h"
#include "store/store.h"

namespace kobs::store::schema {
namespace {

std::string qualified(const std::string& db, const std::string& name) {
  return quoteIdentifier(db) + "." + quoteIdentifier(name);
}

TableDef eventsTableDef() {
  const std::string z = "CODEC(ZSTD(1))";
  const std::string lc = "LowCardinality(String)";
  TableDef t{.kind = TableKind::kLogs};  // kind is unused for this table
  t.columns = {
      {"composition_id", "String", z},
      {"ingest_time", "DateTime64(9)", "CODEC(Delta(8), ZSTD(1))"},
      {"ts", "DateTime64(9)", "CODEC(Delta(8), ZSTD(1))"},
      {"row_key", "UInt64", ""},
      {"watch_type", lc, z},
      {"event_uid", "String", z},
      {"resource_version", "String", z},
      {"obj_apiversion", lc, z},
      {"obj_kind", lc, z},
      {"obj_name", "String", z},
      {"obj_namespace", lc, z},
      {"obj_uid", "String", z},
      {"reason", lc, z},
      {"message", "String", z},
      {"type", lc, z},
      {"source_component", lc, z},
      {"event_time", "String", z},
      // For the events-presenter API (serve/presenter): the cluster that wrote
      // the row and the core/v1 Event itself, served as `raw`.
      {"cluster_name", lc, z},
      {"raw", "String", "CODEC(ZSTD(3))"},
  };
  // Part- and granule-level pruning for the tailer (ingest_time) and for the
  // all-compositions listing (ts), which do not follow the sort key.
  t.indexes = {{"idx_ingest_time", "ingest_time", "minmax", 1},
               {"idx_ts", "ts", "minmax", 1},
               // The presenter's newest-row-per-event check looks events up by uid.
               {"idx_event_uid", "event_uid", "bloom_filter(0.01)", 1}};
  // Weekly partitions: /events/{id} reads the newest granules of every part,
  // so the part count sets its latency (30 days of rows: 31 parts daily, 5
  // weekly; bench/serve's GET /events/{id} p50 went from 39 to 22 ms at 1M
  // rows with these settings together). TTL still drops whole parts, at most
  // a week after they expire.
  t.partition_by = "toMonday(ts)";
  t.order_by = "(composition_id, ts, row_key)";
  t.ttl_time = "toDateTime(ts)";
  // Small granules: a composition's newest 50 rows are one or two granules
  // per part, not thousands of other compositions' rows. Small compression
  // blocks: reading one granule decompresses 8-64 KiB per column, not up to
  // 1 MiB (about 3% more disk).
  t.settings = {"index_granularity = 512", "min_compress_block_size = 8192", "max_compress_block_size = 65536",
                "ttl_only_drop_parts = 1"};
  return t;
}

// The view's SELECT list over one otel_logs row; `ingest` is the ingest_time
// expression (now64(9) live, the row's Timestamp for the backfill).
std::string selectList(const std::string& ingest) {
  auto obj = [](const char* path) { return fmt::format("JSONExtractString(Body, 'object', {})", path); };
  return fmt::format(
      "    LogAttributes['krateo.io/composition-id'] AS composition_id,\n"
      "    {} AS ingest_time,\n"
      "    Timestamp AS ts,\n"
      "    sipHash64(Timestamp, Body) AS row_key,\n"
      "    JSONExtractString(Body, 'type') AS watch_type,\n"
      "    {} AS event_uid,\n"
      "    {} AS resource_version,\n"
      "    {} AS obj_apiversion,\n"
      "    {} AS obj_kind,\n"
      "    {} AS obj_name,\n"
      "    {} AS obj_namespace,\n"
      "    {} AS obj_uid,\n"
      "    {} AS reason,\n"
      "    {} AS message,\n"
      "    {} AS type,\n"
      "    {} AS source_component,\n"
      "    coalesce(nullIf({}, ''), nullIf({}, ''),\n"
      "             formatDateTime(toDateTime(Timestamp), '%Y-%m-%dT%H:%i:%SZ', 'UTC')) AS event_time,\n"
      "    ResourceAttributes['k8s.cluster.name'] AS cluster_name,\n"
      "    JSONExtractRaw(Body, 'object') AS raw\n",
      ingest, obj("'metadata', 'uid'"), obj("'metadata', 'resourceVersion'"), obj("'involvedObject', 'apiVersion'"),
      obj("'involvedObject', 'kind'"), obj("'involvedObject', 'name'"), obj("'involvedObject', 'namespace'"),
      obj("'involvedObject', 'uid'"), obj("'reason'"), obj("'message'"), obj("'type'"), obj("'source', 'component'"),
      obj("'eventTime'"), obj("'lastTimestamp'"));
}

// ingest_time of a live insert: the batch's assigned time when kobs sent it
// (see krateo_events.h), else the server's clock.
std::string liveIngestExpr() {
  const auto prefix = std::string(kIngestCommentPrefix);
  return fmt::format("if(startsWith(getSetting('log_comment'), '{}'), fromUnixTimestamp64Nano(toInt64OrZero("
                     "substring(getSetting('log_comment'), {}))), now64(9))",
                     prefix, prefix.size() + 1);
}

constexpr const char* kEventsFilter = "ResourceAttributes['telemetry.source'] = 'k8s-events'";

}  // namespace

std::string eventsViewName(const SchemaOptions& options) { return options.events_table + "_mv"; }

std::string ingestComment(int64_t ingest_ns) { return fmt::format("{}{}", kIngestCommentPrefix, ingest_ns); }

bool viewTakesIngestFromInsert(std::string_view create_query) {
  return create_query.find(kIngestCommentPrefix) != std::string_view::npos;
}

std::vector<SchemaObject> eventsSchemaObjects(const SchemaOptions& o) {
  std::vector<SchemaObject> out;
  const TableDef def = eventsTableDef();
  const std::string name = o.events_table;
  const std::string suffix = o.cluster.enabled() ? o.cluster.local_suffix : "";
  if (!o.cluster.enabled()) {
    out.push_back({SchemaObject::Type::kTable, std::nullopt, o.database, name, createTableSql(o, def, name)});
  } else {
    const std::string local = name + suffix;
    out.push_back({SchemaObject::Type::kLocalTable, std::nullopt, o.database, local, createTableSql(o, def, local)});
    out.push_back({SchemaObject::Type::kDistributedTable, std::nullopt, o.database, name,
                   createDistributedSql(o, name, local)});
  }
  const std::string logs = tableName(o, TableKind::kLogs) + suffix;
  const std::string view = eventsViewName(o);
  const std::string on_cluster = o.cluster.enabled() ? " ON CLUSTER " + quoteIdentifier(o.cluster.name) : "";
  out.push_back({SchemaObject::Type::kMaterializedView, std::nullopt, o.database, view,
                 fmt::format("CREATE MATERIALIZED VIEW IF NOT EXISTS {}{}\nTO {}\nAS SELECT\n{}FROM {}\nWHERE {}",
                             qualified(o.database, view), on_cluster, qualified(o.database, name + suffix),
                             selectList(liveIngestExpr()), qualified(o.database, logs), kEventsFilter)});
  return out;
}

std::string eventsBackfillSql(const SchemaOptions& o, int64_t before_ns, std::string_view day) {
  // Through the Distributed table in cluster mode, so each row lands once.
  std::string sql = fmt::format("INSERT INTO {}\nSELECT\n{}FROM {}\nWHERE {} AND Timestamp < fromUnixTimestamp64Nano({})",
                                qualified(o.database, o.events_table), selectList("Timestamp"),
                                qualified(o.database, tableName(o, TableKind::kLogs)), kEventsFilter, before_ns);
  if (!day.empty()) {
    if (day.size() != 10 || day.find_first_not_of("0123456789-") != std::string_view::npos)
      throw Exception(ErrorCode::kBadArguments, "not a day (YYYY-MM-DD): '{}'", day);
    sql += fmt::format(" AND toDate(Timestamp) = toDate('{}')", day);
  }
  return sql;
}

std::string eventsBackfillDaysSql(const SchemaOptions& o, int64_t before_ns) {
  return fmt::format("SELECT toString(toDate(Timestamp)) AS day, count() AS n FROM {}\nWHERE {} AND Timestamp < "
                     "fromUnixTimestamp64Nano({}) GROUP BY day ORDER BY day",
                     qualified(o.database, tableName(o, TableKind::kLogs)), kEventsFilter, before_ns);
}

}  // namespace kobs::store::schema
