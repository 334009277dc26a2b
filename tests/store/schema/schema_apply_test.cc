// The schema applied on the embedded store (chDB 26.7): column lists as
// DESCRIBE shows them, idempotence, existing tables of either variant, a
// missing required column, the dedup window, and the trace-id view.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <utility>

#include "common/error.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/ddl.h"
#include "store/schema/schema_manager.h"
#include "store/schema/table_layout.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::store::schema {
namespace {

using Cols = std::vector<std::pair<std::string, std::string>>;

// One engine per test binary (chDB boots once per process); tests use their own databases.
class SchemaApplyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    store_ = testing::openEmbeddedStore("default").release();
  }
  static void TearDownTestSuite() {
    delete store_;
  }

  static Cols describe(const std::string& db, const std::string& table) {
    auto r = store_->query("DESCRIBE TABLE `" + db + "`.`" + table + "`", "TabSeparated");
    Cols out;
    size_t pos = 0;
    while (pos < r.data.size()) {
      size_t nl = r.data.find('\n', pos);
      std::string line = r.data.substr(pos, nl - pos);
      pos = nl + 1;
      size_t t1 = line.find('\t');
      size_t t2 = line.find('\t', t1 + 1);
      out.emplace_back(line.substr(0, t1), line.substr(t1 + 1, t2 - t1 - 1));
    }
    return out;
  }

  static std::string snapshot(const std::string& db) {
    return store_
               ->query("SELECT table, name, type, default_kind, default_expression, compression_codec FROM "
                       "system.columns WHERE database = '" + db + "' ORDER BY table, position",
                       "TabSeparated")
               .data +
           store_->query("SELECT name, create_table_query FROM system.tables WHERE database = '" + db +
                             "' ORDER BY name",
                         "TabSeparated")
               .data;
  }

  static std::string scalar(const std::string& sql) {
    auto s = store_->query(sql, "TabSeparated").data;
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  static inline EmbeddedStore* store_ = nullptr;
};

const std::string kMap = "Map(LowCardinality(String), String)";
const std::string kLc = "LowCardinality(String)";

Cols clickstackLogs() {
  return {{"Timestamp", "DateTime64(9)"},
          {"TraceId", "String"},
          {"SpanId", "String"},
          {"TraceFlags", "UInt8"},
          {"SeverityText", kLc},
          {"SeverityNumber", "UInt8"},
          {"ServiceName", kLc},
          {"Body", "String"},
          {"ResourceSchemaUrl", kLc},
          {"ResourceAttributes", kMap},
          {"ScopeSchemaUrl", kLc},
          {"ScopeName", "String"},
          {"ScopeVersion", kLc},
          {"ScopeAttributes", kMap},
          {"LogAttributes", kMap},
          {"EventName", "String"},
          {"__hdx_materialized_k8s.cluster.name", kLc},
          {"__hdx_materialized_k8s.container.name", kLc},
          {"__hdx_materialized_k8s.deployment.name", kLc},
          {"__hdx_materialized_k8s.namespace.name", kLc},
          {"__hdx_materialized_k8s.node.name", kLc},
          {"__hdx_materialized_k8s.pod.name", kLc},
          {"__hdx_materialized_k8s.pod.uid", kLc},
          {"__hdx_materialized_deployment.environment.name", kLc},
          {"ResourceAttributeItems", "Array(String)"},
          {"ScopeAttributeItems", "Array(String)"},
          {"LogAttributeItems", "Array(String)"}};
}

Cols clickstackTraces() {
  return {{"Timestamp", "DateTime64(9)"},
          {"TraceId", "String"},
          {"SpanId", "String"},
          {"ParentSpanId", "String"},
          {"TraceState", "String"},
          {"SpanName", kLc},
          {"SpanKind", kLc},
          {"ServiceName", kLc},
          {"ResourceAttributes", kMap},
          {"ScopeName", "String"},
          {"ScopeVersion", "String"},
          {"SpanAttributes", kMap},
          {"Duration", "UInt64"},
          {"StatusCode", kLc},
          {"StatusMessage", "String"},
          {"Events.Timestamp", "Array(DateTime64(9))"},
          {"Events.Name", "Array(LowCardinality(String))"},
          {"Events.Attributes", "Array(" + kMap + ")"},
          {"Links.TraceId", "Array(String)"},
          {"Links.SpanId", "Array(String)"},
          {"Links.TraceState", "Array(String)"},
          {"Links.Attributes", "Array(" + kMap + ")"},
          {"__hdx_materialized_rum.sessionId", "String"},
          {"SampleRate", "UInt64"},
          {"ResourceAttributeItems", "Array(String)"},
          {"SpanAttributeItems", "Array(String)"}};
}

Cols traceIdTs() { return {{"TraceId", "String"}, {"Start", "DateTime"}, {"End", "DateTime"}}; }

Cols metricsHead() {
  return {{"ResourceAttributes", kMap},     {"ResourceSchemaUrl", "String"},    {"ScopeName", "String"},
          {"ScopeVersion", "String"},       {"ScopeAttributes", kMap},          {"ScopeDroppedAttrCount", "UInt32"},
          {"ScopeSchemaUrl", "String"},     {"ServiceName", kLc},               {"MetricName", "String"},
          {"MetricDescription", "String"},  {"MetricUnit", "String"},           {"Attributes", kMap},
          {"StartTimeUnix", "DateTime64(9)"}, {"TimeUnix", "DateTime64(9)"}};
}

Cols plus(Cols a, const Cols& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const Cols kExemplars = {{"Exemplars.FilteredAttributes", "Array(Map(LowCardinality(String), String))"},
                         {"Exemplars.TimeUnix", "Array(DateTime64(9))"},
                         {"Exemplars.Value", "Array(Float64)"},
                         {"Exemplars.SpanId", "Array(String)"},
                         {"Exemplars.TraceId", "Array(String)"}};

Cols gauge() { return plus(plus(metricsHead(), {{"Value", "Float64"}, {"Flags", "UInt32"}}), kExemplars); }
Cols sum() {
  return plus(gauge(), {{"AggregationTemporality", "Int32"}, {"IsMonotonic", "Bool"}});
}
Cols histogram() {
  return plus(plus(plus(metricsHead(), {{"Count", "UInt64"},
                                         {"Sum", "Float64"},
                                         {"BucketCounts", "Array(UInt64)"},
                                         {"ExplicitBounds", "Array(Float64)"}}),
                    kExemplars),
              {{"Flags", "UInt32"}, {"Min", "Float64"}, {"Max", "Float64"}, {"AggregationTemporality", "Int32"}});
}
Cols expHistogram() {
  return plus(plus(plus(metricsHead(), {{"Count", "UInt64"},
                                         {"Sum", "Float64"},
                                         {"Scale", "Int32"},
                                         {"ZeroCount", "UInt64"},
                                         {"PositiveOffset", "Int32"},
                                         {"PositiveBucketCounts", "Array(UInt64)"},
                                         {"NegativeOffset", "Int32"},
                                         {"NegativeBucketCounts", "Array(UInt64)"}}),
                    kExemplars),
              {{"Flags", "UInt32"}, {"Min", "Float64"}, {"Max", "Float64"}, {"AggregationTemporality", "Int32"}});
}
Cols summary() {
  return plus(metricsHead(), {{"Count", "UInt64"},
                              {"Sum", "Float64"},
                              {"ValueAtQuantiles.Quantile", "Array(Float64)"},
                              {"ValueAtQuantiles.Value", "Array(Float64)"},
                              {"Flags", "UInt32"}});
}

TEST_F(SchemaApplyTest, ClickStackSchemaAppliesWithExpectedColumnsAndIsIdempotent) {
  SchemaOptions o;
  o.database = "cs";
  o.ttl = std::chrono::hours(24 * 30);
  Schema s = SchemaManager::apply(*store_, o);
  EXPECT_EQ(s.server.major, 26);
  EXPECT_TRUE(s.text_indexes);
  EXPECT_EQ(s.created.size(), 10u);  // database, 8 tables, the view

  EXPECT_EQ(describe("cs", "otel_logs"), clickstackLogs());
  EXPECT_EQ(describe("cs", "otel_traces"), clickstackTraces());
  EXPECT_EQ(describe("cs", "otel_traces_trace_id_ts"), traceIdTs());
  EXPECT_EQ(describe("cs", "otel_metrics_gauge"), gauge());
  EXPECT_EQ(describe("cs", "otel_metrics_sum"), sum());
  EXPECT_EQ(describe("cs", "otel_metrics_histogram"), histogram());
  EXPECT_EQ(describe("cs", "otel_metrics_exponential_histogram"), expHistogram());
  EXPECT_EQ(describe("cs", "otel_metrics_summary"), summary());

  // Text indexes on this server, and the dedup window on every table kobs made.
  EXPECT_THAT(scalar("SELECT type_full FROM system.data_skipping_indices WHERE database='cs' AND table='otel_logs' "
                     "AND name='idx_lower_body'"),
              ::testing::HasSubstr("splitByNonAlpha"));
  EXPECT_EQ(scalar("SELECT count() FROM system.tables WHERE database='cs' AND engine='MergeTree' AND "
                   "engine_full LIKE '%non_replicated_deduplication_window = 1000%'"),
            "8");
  EXPECT_THAT(scalar("SELECT engine_full FROM system.tables WHERE database='cs' AND name='otel_logs'"),
              ::testing::HasSubstr("TTL toDateTime(Timestamp) + toIntervalDay(30)"));

  // The layouts handed to encoders: computed columns are not insertable.
  const TableLayout& logs = s.table(TableKind::kLogs);
  EXPECT_EQ(logs.columns.size(), 27u);
  EXPECT_EQ(logs.deduplication_window, 1000u);
  auto ins = logs.insertableColumnNames();
  EXPECT_EQ(ins.size(), 16u);
  EXPECT_EQ(ins.front(), "Timestamp");
  EXPECT_EQ(ins.back(), "EventName");
  EXPECT_EQ(logs.find("__hdx_materialized_k8s.pod.name")->default_kind, "MATERIALIZED");
  EXPECT_EQ(logs.find("LogAttributeItems")->default_kind, "ALIAS");
  EXPECT_EQ(s.table(TableKind::kTraces).insertableColumnNames().size(), 22u);

  const std::string before = snapshot("cs");
  Schema again;
  ASSERT_NO_THROW(again = SchemaManager::apply(*store_, o));
  EXPECT_TRUE(again.created.empty());
  EXPECT_TRUE(again.altered.empty());
  EXPECT_EQ(snapshot("cs"), before);
  EXPECT_EQ(again.table(TableKind::kLogs).columns, logs.columns);
}

TEST_F(SchemaApplyTest, BloomVariantAppliesOnTheSameServer) {
  SchemaOptions o;
  o.database = "cs_bloom";
  o.text_index = TextIndex::kBloom;
  Schema s = SchemaManager::apply(*store_, o);
  EXPECT_FALSE(s.text_indexes);
  Cols logs = clickstackLogs();
  logs.resize(logs.size() - 3);  // no *AttributeItems aliases in the compat tables
  EXPECT_EQ(describe("cs_bloom", "otel_logs"), logs);
  EXPECT_EQ(scalar("SELECT type FROM system.data_skipping_indices WHERE database='cs_bloom' AND table='otel_logs' "
                   "AND name='idx_trace_id'"),
            "bloom_filter");
}

TEST_F(SchemaApplyTest, ExporterVariantAppliesAndIsAcceptedByAClickStackManager) {
  SchemaOptions exp;
  exp.database = "ex";
  exp.variant = Variant::kExporter;
  Schema s = SchemaManager::apply(*store_, exp);
  Cols logs = {{"Timestamp", "DateTime64(9)"},
               {"TimestampTime", "DateTime"},
               {"TraceId", "String"},
               {"SpanId", "String"},
               {"TraceFlags", "UInt8"},
               {"SeverityText", kLc},
               {"SeverityNumber", "UInt8"},
               {"ServiceName", kLc},
               {"Body", "String"},
               {"ResourceSchemaUrl", kLc},
               {"ResourceAttributes", kMap},
               {"ScopeSchemaUrl", kLc},
               {"ScopeName", "String"},
               {"ScopeVersion", kLc},
               {"ScopeAttributes", kMap},
               {"LogAttributes", kMap},
               {"EventName", "String"}};
  EXPECT_EQ(describe("ex", "otel_logs"), logs);
  Cols traces = clickstackTraces();
  traces.resize(traces.size() - 4);  // no HyperDX materialized/alias columns
  EXPECT_EQ(describe("ex", "otel_traces"), traces);
  EXPECT_EQ(describe("ex", "otel_metrics_exp_histogram"), expHistogram());
  EXPECT_EQ(describe("ex", "otel_metrics_summary"), summary());
  EXPECT_EQ(s.table(TableKind::kMetricsExponentialHistogram).table, "otel_metrics_exp_histogram");

  // A ClickStack-configured kobs pointed at the exporter's tables keeps them as they are.
  SchemaOptions cs;
  cs.database = "ex";
  cs.table_names[TableKind::kMetricsExponentialHistogram] = "otel_metrics_exp_histogram";
  const std::string before = snapshot("ex");
  Schema found = SchemaManager::apply(*store_, cs);
  EXPECT_TRUE(found.created.empty());
  EXPECT_EQ(snapshot("ex"), before);
  const TableLayout& l = found.table(TableKind::kLogs);
  ASSERT_TRUE(l.has("TimestampTime"));
  EXPECT_EQ(l.find("TimestampTime")->default_kind, "DEFAULT");
  EXPECT_TRUE(l.find("TimestampTime")->insertable());
  EXPECT_FALSE(l.has("__hdx_materialized_k8s.pod.name"));
  EXPECT_EQ(l.insertableColumnNames().size(), 17u);
}

TEST_F(SchemaApplyTest, ExistingTableMissingARequiredColumnStopsTheStart) {
  store_->execute("CREATE DATABASE IF NOT EXISTS bad");
  store_->execute(
      "CREATE TABLE bad.otel_logs (Timestamp DateTime64(9), TraceId String, SpanId String, TraceFlags UInt8, "
      "SeverityText LowCardinality(String), SeverityNumber UInt8, ServiceName LowCardinality(String), Body String, "
      "ResourceSchemaUrl LowCardinality(String), ResourceAttributes Map(LowCardinality(String), String), "
      "ScopeSchemaUrl LowCardinality(String), ScopeName String, ScopeVersion LowCardinality(String), "
      "ScopeAttributes Map(LowCardinality(String), String)) "
      "ENGINE = MergeTree ORDER BY Timestamp SETTINGS non_replicated_deduplication_window = 10");
  SchemaOptions o;
  o.database = "bad";
  try {
    SchemaManager::apply(*store_, o);
    FAIL() << "expected kSchemaMismatch";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kSchemaMismatch);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("bad.otel_logs"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("LogAttributes"));
  }
  // Nothing was created around the bad table.
  EXPECT_EQ(scalar("SELECT count() FROM system.tables WHERE database='bad'"), "1");
}

TEST_F(SchemaApplyTest, ExistingMergeTreeWithoutDedupWindowGetsOne) {
  SchemaOptions o;
  o.database = "default";  // the store's own database: insert() writes there
  o.deduplication_window = 0;  // create the tables the way a stock collector would: no window
  SchemaManager::apply(*store_, o);
  auto before = describeTable(*store_, "default", "otel_logs");
  EXPECT_EQ(before.engine, "MergeTree");
  EXPECT_EQ(before.deduplication_window, 0u);

  o.deduplication_window = 1000;
  Schema s = SchemaManager::apply(*store_, o);
  EXPECT_EQ(s.altered.size(), 8u);
  EXPECT_EQ(s.table(TableKind::kLogs).deduplication_window, 1000u);
  EXPECT_THAT(scalar("SELECT create_table_query FROM system.tables WHERE database='default' AND name='otel_logs'"),
              ::testing::HasSubstr("non_replicated_deduplication_window = 1000"));

  // The window works: the same token twice stores the row once.
  const std::string row = R"({"Timestamp":"2024-01-01 00:00:00.123456789","Body":"x"})" "\n";
  InsertRequest req{.table = "otel_logs", .columns = {"Timestamp", "Body"}, .format = "JSONEachRow", .body = row,
                    .rows = 1, .deduplication_token = "tok-1"};
  EXPECT_EQ(store_->insert(req).rows_written, 1u);
  req.may_be_duplicate = true;
  // chDB 26.7 reports rows_written=1 for the dropped replay, so only the count proves it.
  EXPECT_NO_THROW(store_->insert(req));
  EXPECT_EQ(scalar("SELECT count() FROM `default`.otel_logs"), "1");
}

TEST_F(SchemaApplyTest, DedupWindowThatCannotBeSetRefusesToStartSayingWhy) {
  SchemaOptions o;
  o.database = "ro";
  o.deduplication_window = 0;
  SchemaManager::apply(*store_, o);
  o.deduplication_window = 1000;
  auto readonly = store_->openReadOnly(1);
  try {
    SchemaManager::apply(*readonly, o);
    FAIL() << "expected kSchemaMismatch";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kSchemaMismatch);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("ro.otel_logs"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("non_replicated_deduplication_window"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("stored twice"));
  }
}

TEST_F(SchemaApplyTest, RowsLandAndTheTraceIdViewFillsTheLookupTable) {
  SchemaOptions o;
  o.database = "rows";
  SchemaManager::apply(*store_, o);
  store_->execute(
      "INSERT INTO rows.otel_logs (Timestamp, TraceId, SeverityText, SeverityNumber, Body, ResourceAttributes, "
      "LogAttributes) FORMAT JSONEachRow "
      R"({"Timestamp":"2024-05-01 10:00:00.000000001","TraceId":"abc","SeverityText":"Warning","SeverityNumber":13,)"
      R"("Body":"pod failed","ResourceAttributes":{"k8s.pod.name":"p1"},"LogAttributes":{"k8s.event.reason":"Failed"}})");
  EXPECT_EQ(scalar("SELECT Body, `__hdx_materialized_k8s.pod.name`, LogAttributeItems FROM rows.otel_logs"),
            "pod failed\tp1\t['k8s.event.reason=Failed']");

  store_->execute(
      "INSERT INTO rows.otel_traces (Timestamp, TraceId, SpanId, SpanName, Duration) FORMAT JSONEachRow "
      R"({"Timestamp":"2024-05-01 10:00:00.5","TraceId":"t1","SpanId":"s1","SpanName":"a","Duration":5})"
      "\n"
      R"({"Timestamp":"2024-05-01 10:00:03.5","TraceId":"t1","SpanId":"s2","SpanName":"b","Duration":7})"
      "\n"
      R"({"Timestamp":"2024-05-01 10:00:04","TraceId":"","SpanId":"s3","SpanName":"c","Duration":1})");
  EXPECT_EQ(scalar("SELECT TraceId, Start, End FROM rows.otel_traces_trace_id_ts"),
            "t1\t2024-05-01 10:00:00\t2024-05-01 10:00:03");
  EXPECT_EQ(scalar("SELECT count() FROM rows.otel_traces_trace_id_ts"), "1");
}

}  // namespace
}  // namespace kobs::store::schema
