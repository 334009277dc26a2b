// DDL generation without a server: TTL rendering, index flavour by server
// version, table names per variant, and cluster mode as SQL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "store/schema/ddl.h"
#include "store/schema/otel_tables.h"
#include "store/schema/table_layout.h"

namespace kobs::store::schema {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

const ServerInfo kNew = parseServerVersion("26.7.3.1");
const ServerInfo kOld = parseServerVersion("25.8.1.5");

const SchemaObject& find(const std::vector<SchemaObject>& objs, const std::string& name) {
  for (const auto& o : objs)
    if (o.name == name) return o;
  throw std::runtime_error("no object " + name);
}

TEST(RenderTtl, WholeDaysElseHoursMinutesSeconds) {
  EXPECT_EQ(renderTtl(0s, "TimestampTime"), "");
  EXPECT_EQ(renderTtl(72h, "TimestampTime"), "TTL TimestampTime + toIntervalDay(3)");
  EXPECT_EQ(renderTtl(36h, "toDateTime(Timestamp)"), "TTL toDateTime(Timestamp) + toIntervalHour(36)");
  EXPECT_EQ(renderTtl(90min, "x"), "TTL x + toIntervalMinute(90)");
  EXPECT_EQ(renderTtl(3601s, "x"), "TTL x + toIntervalSecond(3601)");
}

TEST(RenderTtl, AppearsInEveryTableWithItsTimeColumn) {
  SchemaOptions o;
  o.ttl = 48h;
  auto objs = buildSchemaObjects(o, kNew);
  EXPECT_THAT(find(objs, "otel_logs").sql, HasSubstr("TTL toDateTime(Timestamp) + toIntervalDay(2)"));
  EXPECT_THAT(find(objs, "otel_traces").sql, HasSubstr("TTL toDate(Timestamp) + toIntervalDay(2)"));
  EXPECT_THAT(find(objs, "otel_metrics_sum").sql, HasSubstr("TTL toDateTime(TimeUnix) + toIntervalDay(2)"));
  EXPECT_THAT(find(objs, "otel_traces_trace_id_ts").sql, HasSubstr("TTL toDateTime(Start) + toIntervalDay(2)"));
  o.variant = Variant::kExporter;
  EXPECT_THAT(find(buildSchemaObjects(o, kNew), "otel_logs").sql, HasSubstr("TTL TimestampTime + toIntervalDay(2)"));
  o.ttl = 0s;
  for (const auto& s : buildSchema(o, kNew)) EXPECT_THAT(s, Not(HasSubstr("TTL")));
}

TEST(ServerVersion, ParsesAndGatesTextIndexes) {
  EXPECT_EQ(kNew.major, 26);
  EXPECT_EQ(kNew.minor, 7);
  EXPECT_TRUE(kNew.hasTextIndexes());
  EXPECT_FALSE(kOld.hasTextIndexes());
  EXPECT_TRUE(parseServerVersion("26.2.1.1\n").hasTextIndexes());
  EXPECT_FALSE(parseServerVersion("26.1.9").hasTextIndexes());
  EXPECT_TRUE(parseServerVersion("27.0").hasTextIndexes());
  EXPECT_THROW(parseServerVersion("garbage"), Exception);
}

TEST(IndexFlavour, TextOnNewServersBloomOnOldOnesUnlessForced) {
  SchemaOptions o;
  auto logsNew = find(buildSchemaObjects(o, kNew), "otel_logs").sql;
  EXPECT_THAT(logsNew, HasSubstr("INDEX idx_trace_id TraceId TYPE text(tokenizer = 'array')"));
  EXPECT_THAT(logsNew, HasSubstr("INDEX idx_log_attr_items LogAttributeItems TYPE text(tokenizer = 'array')"));
  EXPECT_THAT(logsNew, Not(HasSubstr("bloom_filter")));

  auto logsOld = find(buildSchemaObjects(o, kOld), "otel_logs").sql;
  EXPECT_THAT(logsOld, HasSubstr("INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1"));
  EXPECT_THAT(logsOld, HasSubstr("INDEX idx_lower_body lower(Body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8"));
  EXPECT_THAT(logsOld, Not(HasSubstr("text(")));
  EXPECT_THAT(logsOld, Not(HasSubstr("LogAttributeItems")));

  o.text_index = TextIndex::kBloom;
  EXPECT_THAT(find(buildSchemaObjects(o, kNew), "otel_traces").sql, Not(HasSubstr("text(")));
  o.text_index = TextIndex::kText;
  EXPECT_THAT(find(buildSchemaObjects(o, kOld), "otel_traces").sql, HasSubstr("text(tokenizer = 'array')"));
  // The exporter's classic tables only have bloom filters.
  o.variant = Variant::kExporter;
  EXPECT_THAT(find(buildSchemaObjects(o, kNew), "otel_logs").sql, HasSubstr("idx_body Body TYPE tokenbf_v1"));
}

TEST(TableNames, PerVariantAndOverridable) {
  SchemaOptions o;
  EXPECT_EQ(tableName(o, TableKind::kMetricsExponentialHistogram), "otel_metrics_exponential_histogram");
  EXPECT_EQ(tableName(o, TableKind::kTraceIdTs), "otel_traces_trace_id_ts");
  o.variant = Variant::kExporter;
  EXPECT_EQ(tableName(o, TableKind::kMetricsExponentialHistogram), "otel_metrics_exp_histogram");
  o.table_names[TableKind::kTraces] = "spans";
  EXPECT_EQ(tableName(o, TableKind::kTraceIdTs), "spans_trace_id_ts");
  EXPECT_EQ(traceIdViewName(o), "spans_trace_id_ts_mv");
  auto mv = buildSchemaObjects(o, kNew).back();
  EXPECT_EQ(mv.type, SchemaObject::Type::kMaterializedView);
  EXPECT_THAT(mv.sql, HasSubstr("TO `default`.`spans_trace_id_ts`"));
  EXPECT_THAT(mv.sql, HasSubstr("FROM `default`.`spans`"));
  EXPECT_THROW(parseVariant("hyperdx"), Exception);
  EXPECT_THROW(parseTextIndex("fast"), Exception);
}

TEST(SingleNode, MergeTreeWithDedupWindowAndNoClusterClause) {
  SchemaOptions o;
  o.database = "obs";
  auto stmts = buildSchema(o, kNew);
  ASSERT_EQ(stmts.size(), 10u);
  EXPECT_EQ(stmts.front(), "CREATE DATABASE IF NOT EXISTS `obs`");
  for (size_t i = 1; i + 1 < stmts.size(); ++i) {
    EXPECT_THAT(stmts[i], HasSubstr("ENGINE = MergeTree\n"));
    EXPECT_THAT(stmts[i], HasSubstr("non_replicated_deduplication_window = 1000"));
    EXPECT_THAT(stmts[i], Not(HasSubstr("ON CLUSTER")));
  }
  EXPECT_THAT(stmts.back(), HasSubstr("CREATE MATERIALIZED VIEW IF NOT EXISTS `obs`.`otel_traces_trace_id_ts_mv`"));
  EXPECT_THAT(stmts.back(), HasSubstr("WHERE TraceId != ''"));
}

TEST(ClusterMode, OnClusterReplicatedLocalsDistributedFronts) {
  SchemaOptions o;
  o.database = "obs";
  o.cluster.name = "main";
  auto objs = buildSchemaObjects(o, kNew);
  ASSERT_EQ(objs.size(), 1u + 2 * allTableKinds().size() + 1u);
  for (const auto& obj : objs) EXPECT_THAT(obj.sql, HasSubstr(" ON CLUSTER `main`")) << obj.sql;

  for (TableKind kind : allTableKinds()) {
    const std::string name = tableName(o, kind);
    const auto& local = find(objs, name + "_local");
    EXPECT_EQ(local.type, SchemaObject::Type::kLocalTable);
    EXPECT_THAT(local.sql, HasSubstr("CREATE TABLE IF NOT EXISTS `obs`.`" + name + "_local` ON CLUSTER `main`"));
    EXPECT_THAT(local.sql,
                HasSubstr("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"));
    // Replicated tables deduplicate by themselves.
    EXPECT_THAT(local.sql, Not(HasSubstr("non_replicated_deduplication_window")));

    const auto& dist = find(objs, name);
    EXPECT_EQ(dist.type, SchemaObject::Type::kDistributedTable);
    EXPECT_EQ(dist.sql, "CREATE TABLE IF NOT EXISTS `obs`.`" + name + "` ON CLUSTER `main`\nAS `obs`.`" + name +
                            "_local`\nENGINE = Distributed('main', 'obs', '" + name + "_local', rand())");
  }
  // The view reads and writes the local tables, where the rows land.
  const auto& mv = objs.back();
  EXPECT_EQ(mv.name, "otel_traces_trace_id_ts_mv");
  EXPECT_THAT(mv.sql, HasSubstr("TO `obs`.`otel_traces_trace_id_ts_local`"));
  EXPECT_THAT(mv.sql, HasSubstr("FROM `obs`.`otel_traces_local`"));
  // Locals come before the Distributed table over them.
  EXPECT_LT(&find(objs, "otel_logs_local") - objs.data(), &find(objs, "otel_logs") - objs.data());
}

TEST(ClusterMode, ConfigurablePathsSuffixAndShardingKey) {
  SchemaOptions o;
  o.cluster.name = "c2";
  o.cluster.zookeeper_path = "/ch/{cluster}/{table}";
  o.cluster.replica_name = "{host}";
  o.cluster.local_suffix = "_shard";
  o.cluster.sharding_key = "cityHash64(TraceId)";
  auto objs = buildSchemaObjects(o, kNew);
  EXPECT_THAT(find(objs, "otel_traces_shard").sql, HasSubstr("ReplicatedMergeTree('/ch/{cluster}/{table}', '{host}')"));
  EXPECT_THAT(find(objs, "otel_traces").sql, HasSubstr("Distributed('c2', 'default', 'otel_traces_shard', cityHash64(TraceId))"));
}

TEST(PrintSchema, StatementsSeparatedByBlankLines) {
  SchemaOptions o;
  auto stmts = buildSchema(o, kNew);
  std::string printed = printSchema(o, kNew);
  EXPECT_EQ(printed.substr(0, stmts[0].size() + 3), stmts[0] + ";\n\n");
  EXPECT_TRUE(printed.ends_with(stmts.back() + ";\n"));
}

TEST(RequiredColumns, EveryGeneratedVariantHasThem) {
  for (Variant v : {Variant::kClickStack, Variant::kExporter}) {
    for (bool text : {true, false}) {
      for (TableKind kind : allTableKinds()) {
        auto def = tableDef(kind, v, text);
        for (const auto& req : requiredColumns(kind)) {
          bool found = false;
          for (const auto& c : def.columns) found = found || c.name == req;
          EXPECT_TRUE(found) << tableKindName(kind) << " " << variantName(v) << " lacks " << req;
        }
      }
    }
  }
}

TEST(ParseDeduplicationWindow, ReadsTheSettingFromEngineFull) {
  EXPECT_EQ(parseDeduplicationWindow("MergeTree ORDER BY a SETTINGS index_granularity = 8192, "
                                     "non_replicated_deduplication_window = 1000"),
            1000);
  EXPECT_EQ(parseDeduplicationWindow("MergeTree ORDER BY a SETTINGS non_replicated_deduplication_window = 0, x = 1"), 0);
  EXPECT_EQ(parseDeduplicationWindow("MergeTree ORDER BY a"), -1);
}

}  // namespace
}  // namespace kobs::store::schema
