// The side-by-side benchmarks' sink (bench/peer/kobs_peer_sink) counts rows
// correctly, so the figures built on its counts can be trusted:
// - kobs's own store client (HttpStore) applies its schema against the sink
//   and inserts RowBinary bodies made by kobs's encoders; the sink answers
//   with the exact written_rows (HttpStore refuses a wrong count) and its
//   stats add up; a torn body is refused and not counted.
// - The columns the sink parsed from kobs's CREATE TABLE statements equal
//   what a real ClickHouse engine (embedded chDB) reports for the same DDL.
// - Native blocks written by chDB (several blocks, Map/Array/Nullable/
//   LowCardinality columns) are decoded to the last byte with the right count.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ch_format.h"
#include "pipeline/otel_encoders.h"
#include "pipeline/targets.h"
#include "store/clickhouse/http_store.h"
#include "store/schema/schema_manager.h"
#include "support/child_process.h"
#include "support/embedded_store.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace kobs {
namespace {

namespace ch = bench::ch;

class SinkProcess {
 public:
  SinkProcess() : child_({(testing::binaryDir() / "bench/peer/kobs_peer_sink").string(), "--listen", "127.0.0.1:0"}) {
    std::string line = child_.readLine();  // "kobs_peer_sink listening on 127.0.0.1:<port>"
    auto colon = line.rfind(':');
    if (line.find("listening on") == std::string::npos || colon == std::string::npos)
      throw std::runtime_error("sink did not start: " + line);
    url_ = "http://127.0.0.1:" + line.substr(colon + 1);
  }
  const std::string& url() const { return url_; }

  nlohmann::json stats() const {
    http::testing::Client client;
    auto r = client.fetch(url_ + "/sink/stats");
    if (r.status != 200) throw std::runtime_error("sink stats: HTTP " + std::to_string(r.status));
    return nlohmann::json::parse(r.body);
  }

 private:
  testing::ChildProcess child_;
  std::string url_;
};

std::vector<pipeline::LogRecord> logRecords(size_t n) {
  auto res = std::make_shared<pipeline::Resource>();
  res->attributes = {{"service.name", "checkout"}, {"k8s.pod.name", "app-0"}};
  auto scope = std::make_shared<pipeline::Scope>();
  scope->name = "bench";
  std::vector<pipeline::LogRecord> out(n);
  for (size_t i = 0; i < n; ++i) {
    auto& r = out[i];
    r.resource = res;
    r.scope = scope;
    r.time_unix_nano = 1764000000000000000 + int64_t(i);
    r.severity_text = "INFO";
    r.severity_number = 9;
    r.body = std::string(i % 300, 'x');  // empty bodies too
    for (size_t a = 0; a < i % 11; ++a) r.attributes.emplace_back("attr." + std::to_string(a), int64_t(a));
  }
  return out;
}

std::vector<pipeline::Span> spans(size_t n) {
  auto res = std::make_shared<pipeline::Resource>();
  res->attributes = {{"service.name", "checkout"}};
  auto scope = std::make_shared<pipeline::Scope>();
  std::vector<pipeline::Span> out(n);
  for (size_t i = 0; i < n; ++i) {
    auto& s = out[i];
    s.resource = res;
    s.scope = scope;
    s.name = "GET /x";
    s.start_time_unix_nano = 1764000000000000000 + int64_t(i);
    s.end_time_unix_nano = s.start_time_unix_nano + 1000;
    for (size_t e = 0; e < i % 3; ++e) s.events.push_back({s.start_time_unix_nano, "ev", {{"k", "v"}}});
    if (i % 4 == 0) s.links.push_back({});
  }
  return out;
}

template <typename Record>
store::InsertRequest encode(const pipeline::TableTarget& target, const std::vector<pipeline::ColumnBinding<Record>>& b,
                            const std::vector<Record>& records, std::string& body) {
  pipeline::TableEncoder<Record> enc(target.table, target.columns, b);
  body.clear();
  for (const auto& r : records) enc.encode(r, body);
  store::InsertRequest req;
  req.table = target.table;
  req.columns = enc.columns();
  req.body = body;
  req.rows = records.size();
  req.deduplication_token = "t-" + std::to_string(records.size());
  return req;
}

class SinkTest : public ::testing::Test {
 protected:
  static store::HttpStoreOptions options(const SinkProcess& sink) {
    store::HttpStoreOptions o;
    o.url = sink.url();
    o.database = "kobs";
    o.compression = store::BodyCompression::kNone;
    o.retry.max_retries = 0;
    return o;
  }
};

TEST_F(SinkTest, CountsKobsRowBinaryInsertsExactly) {
  SinkProcess sink;
  store::HttpStore http(options(sink));
  store::schema::SchemaOptions so;
  so.database = "kobs";
  auto schema = store::schema::SchemaManager::apply(http, so);
  auto targets = pipeline::targetsFromSchema(schema);

  std::string body;
  auto logs = logRecords(2345);
  auto r1 = http.insert(encode(targets.logs, pipeline::logBindings(), logs, body));
  EXPECT_EQ(r1.rows_written, 2345u);
  auto sp = spans(777);
  auto r2 = http.insert(encode(targets.traces, pipeline::spanBindings(), sp, body));
  EXPECT_EQ(r2.rows_written, 777u);

  auto st = sink.stats();
  EXPECT_EQ(st["tables"]["kobs.otel_logs"]["rows"], 2345);
  EXPECT_EQ(st["tables"]["kobs.otel_traces"]["rows"], 777);
  EXPECT_EQ(st["errors"], 0);

  // One byte short: the last row is torn, the insert is refused, nothing counted.
  encode(targets.logs, pipeline::logBindings(), logRecords(10), body);
  store::InsertRequest torn;
  torn.table = targets.logs.table;
  for (const auto& c : targets.logs.columns) torn.columns.push_back(c.name);
  body.pop_back();
  torn.body = body;
  torn.rows = 10;
  EXPECT_THROW(http.insert(torn), Exception);
  st = sink.stats();
  EXPECT_EQ(st["tables"]["kobs.otel_logs"]["rows"], 2345);
  EXPECT_EQ(st["errors"], 1);
}

TEST_F(SinkTest, ParsedColumnsMatchWhatClickHouseReports) {
  SinkProcess sink;
  store::HttpStore http(options(sink));
  auto chdb = testing::openEmbeddedStore("bench_peer");
  // The DDL depends on the server's version (text or bloom indexes): both
  // get the statements made for the real engine's version.
  const auto server = store::schema::detectServer(*chdb);
  for (auto variant : {store::schema::Variant::kClickStack, store::schema::Variant::kExporter}) {
    store::schema::SchemaOptions so;
    so.variant = variant;
    so.database = variant == store::schema::Variant::kExporter ? "kobs_exporter" : "kobs";
    store::HttpStoreOptions o = options(sink);
    o.database = so.database;
    store::HttpStore h(o);
    auto via_sink = store::schema::SchemaManager::apply(h, so, server);
    so.database = "bench_peer";
    auto via_chdb = store::schema::SchemaManager::apply(*chdb, so, server);
    for (auto kind : store::schema::allTableKinds()) {
      const auto& a = via_sink.table(kind).columns;
      const auto& b = via_chdb.table(kind).columns;
      ASSERT_EQ(a.size(), b.size()) << store::schema::tableKindName(kind);
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].name, b[i].name);
        EXPECT_EQ(a[i].type, b[i].type) << a[i].name;
        EXPECT_EQ(a[i].insertable(), b[i].insertable()) << a[i].name;
      }
    }
    chdb->execute("DROP DATABASE IF EXISTS bench_peer SYNC");
    chdb->execute("CREATE DATABASE bench_peer");
  }
}

TEST(SinkFormat, DecodesNativeBlocksWrittenByClickHouse) {
  auto chdb = testing::openEmbeddedStore("bench_peer_native");
  // More rows than one block (chDB splits at max_block_size 65409..65536),
  // with every shape the exporter's tables use.
  const uint64_t rows = 150001;
  auto r = chdb->query(
      "SELECT toDateTime64(number, 9) AS ts, toString(number) AS s, toLowCardinality(toString(number % 7)) AS lc, "
      "map('k', toString(number), 'n', '') AS m, toUInt8(number % 3) AS u8, toInt32(number) AS i32, "
      "range(number % 3) AS arr, arrayMap(x -> map(toString(x), 'v'), range(number % 2)) AS nested_maps, "
      "if(number % 5 = 0, NULL, number) AS nul, toFixedString('ab', 2) AS fs, (number, 'x') AS tup "
      "FROM numbers(" + std::to_string(rows) + ") SETTINGS max_block_size = 65536",
      "Native");
  auto c = ch::countNative(r.data, false);
  EXPECT_EQ(c.rows, rows);
  EXPECT_GE(c.blocks, 2u);
  EXPECT_EQ(c.columns, 11u);
  // The same bytes read as if block info came first cannot decode: the
  // revision matters and is not guessed silently.
  EXPECT_THROW(ch::countNative(r.data, true), ch::FormatError);
  // A torn block is an error, not a smaller count.
  EXPECT_THROW(ch::countNative(std::string_view(r.data).substr(0, r.data.size() - 1), false), ch::FormatError);
  EXPECT_EQ(ch::countNativeAnyRevision(r.data).rows, rows);
}

TEST(SinkFormat, NativeWriterRoundTripsWithBlockInfo) {
  ch::NativeBlockWriter w(true, 3);
  w.stringColumn("name", {"a", "bb", ""});
  w.uint32Column("n", {1, 2, 3});
  auto body = w.finish();
  EXPECT_EQ(body.substr(0, 8), std::string("\x01\x00\x02\xff\xff\xff\xff\x00", 8));
  auto c = ch::countNative(body, true);
  EXPECT_EQ(c.rows, 3u);
  EXPECT_EQ(c.columns, 2u);
  EXPECT_EQ(ch::countNativeAnyRevision(body).rows, 3u);
}

TEST(SinkFormat, CollectorStyleCreateTableIsFlattened) {
  auto t = ch::parseCreateTable(
      "CREATE TABLE IF NOT EXISTS `peer`.`otel_traces` (\n"
      "  `Timestamp` DateTime64(9) CODEC(Delta, ZSTD(1)),\n"
      "  `SpanName` LowCardinality(String) CODEC(ZSTD(1)),\n"
      "  `Events` Nested (\n    `Timestamp` DateTime64(9),\n    `Name` LowCardinality(String),\n"
      "    `Attributes` Map(LowCardinality(String), String)\n  ) CODEC(ZSTD(1)),\n"
      "  TimestampTime DateTime DEFAULT toDateTime(Timestamp),\n"
      "  `M` String MATERIALIZED lower(SpanName),\n"
      "  INDEX idx_trace_id SpanName TYPE bloom_filter(0.001) GRANULARITY 1\n"
      ") ENGINE = MergeTree() PARTITION BY toDate(Timestamp) ORDER BY (SpanName, toDateTime(Timestamp))",
      "default");
  EXPECT_EQ(t.database, "peer");
  EXPECT_EQ(t.name, "otel_traces");
  EXPECT_EQ(t.engine, "MergeTree");
  ASSERT_EQ(t.columns.size(), 7u);
  EXPECT_EQ(t.columns[2].name, "Events.Timestamp");
  EXPECT_EQ(t.columns[2].type, "Array(DateTime64(9))");
  EXPECT_EQ(t.columns[4].type, "Array(Map(LowCardinality(String), String))");
  EXPECT_EQ(t.columns[5].default_kind, "DEFAULT");
  EXPECT_TRUE(t.columns[5].insertable());
  EXPECT_FALSE(t.columns[6].insertable());
  EXPECT_EQ(ch::withoutLowCardinality(t.columns[4].type), "Array(Map(String, String))");
}

}  // namespace
}  // namespace kobs
