// Schema options: which OpenTelemetry table layout kobs creates, where, and
// how (database, variant, TTL, index flavour, cluster mode, table names).
// See docs/schema.md for every table and column.
//
// Threading: plain values and pure functions; safe to share read-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kobs::store::schema {

// The tables kobs writes (and reads back), independent of their names.
enum class TableKind : uint8_t {
  kLogs = 0,
  kTraces = 1,
  kTraceIdTs = 2,  // trace-id -> [Start, End] lookup, filled by a materialized view on traces
  kMetricsGauge = 3,
  kMetricsSum = 4,
  kMetricsHistogram = 5,
  kMetricsExponentialHistogram = 6,
  kMetricsSummary = 7,
};

// Every kind, in creation order.
const std::vector<TableKind>& allTableKinds();
// "logs", "traces", "trace_id_ts", "metrics_gauge", ... (stable; used in config keys).
std::string_view tableKindName(TableKind kind);

enum class Variant : uint8_t {
  kClickStack = 0,  // ClickStack's seed tables (what HyperDX reads); the default
  kExporter = 1,    // the stock OpenTelemetry Collector ClickHouse exporter's tables
};
std::string_view variantName(Variant v);
Variant parseVariant(std::string_view name);  // "clickstack" | "exporter"; throws kBadConfig

enum class TextIndex : uint8_t {
  kAuto = 0,   // text() indexes on servers >= 26.2, bloom filters below
  kText = 1,   // ClickHouse full-text `text(...)` indexes (ClickStack's main seed)
  kBloom = 2,  // bloom_filter / tokenbf_v1 indexes (ClickStack's `_compat` seed)
};
std::string_view textIndexName(TextIndex t);
TextIndex parseTextIndex(std::string_view name);  // "auto" | "text" | "bloom"; throws kBadConfig

// What kobs needs to know about the server to pick DDL.
struct ServerInfo {
  int major = 0;
  int minor = 0;
  std::string version;  // as reported by SELECT version()

  bool atLeast(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
  // Full-text `text()` skip indexes exist from ClickHouse 26.2.
  bool hasTextIndexes() const { return atLeast(26, 2); }
};
// Parses "26.7.3.1" (anything after major.minor is ignored). Throws kBadArguments.
ServerInfo parseServerVersion(std::string_view version);

// Cluster mode: ON CLUSTER DDL, Replicated*MergeTree local tables named
// <table><local_suffix>, and a Distributed table under the plain name over them.
struct ClusterOptions {
  std::string name;  // empty: single node
  std::string zookeeper_path = "/clickhouse/tables/{shard}/{database}/{table}";
  std::string replica_name = "{replica}";
  std::string local_suffix = "_local";
  std::string sharding_key = "rand()";

  bool enabled() const { return !name.empty(); }
};

struct SchemaOptions {
  std::string database = "default";
  Variant variant = Variant::kClickStack;
  std::chrono::seconds ttl{0};  // 0: no TTL clause
  TextIndex text_index = TextIndex::kAuto;
  ClusterOptions cluster;
  // Per-kind table name overrides; unset kinds use the variant's names.
  std::map<TableKind, std::string> table_names;
  // The window kobs sets on the non-replicated MergeTree tables it creates or
  // finds, so insert_deduplication_token makes a replayed batch a no-op.
  uint64_t deduplication_window = 1000;
  // The composition-keyed events table and the view that fills it from the
  // logs table (store/schema/krateo_events.h). Off in a bare SchemaOptions so
  // it describes only the OpenTelemetry tables; the kobs process turns it on.
  bool krateo_events = false;
  std::string events_table = "krateo_events";
};

// The table a kind lives in under these options (the Distributed one in cluster mode).
std::string tableName(const SchemaOptions& options, TableKind kind);
// The variant's default name for a kind ("otel_logs", "otel_metrics_exp_histogram", ...).
std::string defaultTableName(Variant variant, TableKind kind);

// `TTL <time_expr> + toInterval<Unit>(n)`: days when the TTL is whole days,
// else hours, minutes, seconds (the exporter's rule). Empty when ttl is 0.
std::string renderTtl(std::chrono::seconds ttl, std::string_view time_expr);

// Whether text() indexes are used for these options on this server.
bool useTextIndexes(const SchemaOptions& options, const ServerInfo& server);

}  // namespace kobs::store::schema
