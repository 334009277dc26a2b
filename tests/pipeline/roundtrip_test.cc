// End to end through the real write path: records -> encoder -> disk buffer
// -> sender -> embedded ClickHouse (chDB) with the schema kobs creates, then
// read back with SQL.
#include <gtest/gtest.h>

#include <future>

#include <nlohmann/json.hpp>

#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::pipeline {
namespace {

class RoundTripTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    store_ = testing::openEmbeddedStore("roundtrip").release();
    store::schema::SchemaOptions so;
    so.database = "roundtrip";
    schema_ = new store::schema::Schema(store::schema::SchemaManager::apply(*store_, so));
  }
  static void TearDownTestSuite() {
    delete schema_;
    delete store_;
  }

  // Runs a pipeline over `fn`'s records and waits until they are committed.
  template <typename Fn>
  void write(Fn&& fn) {
    testing::TempDir buf;
    PipelineOptions po;
    po.buffer.dir = buf.path();
    po.buffer.fsync = FsyncPolicy::kNever;
    Pipeline p(*store_, targetsFromSchema(*schema_), po);
    p.start();
    std::promise<bool> committed;
    fn(p, [&committed](bool ok) { committed.set_value(ok); });
    p.flush();
    auto f = committed.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    EXPECT_TRUE(f.get());
    p.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }

  std::vector<nlohmann::json> rows(const std::string& sql) {
    auto r = store_->query(sql, "JSONEachRow");
    std::vector<nlohmann::json> out;
    size_t pos = 0;
    while (pos < r.data.size()) {
      auto nl = r.data.find('\n', pos);
      out.push_back(nlohmann::json::parse(r.data.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    return out;
  }

  static inline store::EmbeddedStore* store_ = nullptr;
  static inline store::schema::Schema* schema_ = nullptr;
};

TEST_F(RoundTripTest, LogRecordsComeBackIdentical) {
  auto resource = std::make_shared<Resource>();
  resource->attributes = {{"service.name", "checkout"}, {"k8s.namespace.name", "krateo-system"}};
  resource->schema_url = "https://opentelemetry.io/schemas/1.21.0";
  auto scope = std::make_shared<Scope>();
  scope->name = "kobs.test";
  scope->version = "1.2.3";
  scope->attributes = {{"scope.attr", "s"}};

  std::vector<LogRecord> records(3);
  const int64_t ts = 1764000000123456789;  // nanosecond precision must survive
  for (size_t i = 0; i < records.size(); ++i) {
    auto& r = records[i];
    r.resource = resource;
    r.scope = scope;
    r.time_unix_nano = ts + int64_t(i);
    r.observed_time_unix_nano = ts + 1000;
    r.severity_number = 13;
    r.severity_text = "Warning";
    r.flags = 1;
    r.trace_id = {0x5b, 0x8e, 0xfF, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
    r.span_id = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
    r.event_name = "k8s.event";
    r.attributes = {
        {"str", "välue ✓ 日本語"},
        {"int", int64_t{-42}},
        {"bool", true},
        {"double", 3.25},
        {"bytes", Bytes{"\x01\x02\xff"}},
        {"array", ArrayValue{AnyValue("a"), AnyValue(int64_t{1}), AnyValue(false)}},
        {"map", KeyValueList{{"z", AnyValue(int64_t{1})}, {"a", AnyValue("x")}}},
    };
  }
  records[0].body = "héllo wörld 👋\nsecond line\ttab";
  records[1].body = std::string(1 << 20, 'B');  // 1 MiB
  records[2].body = KeyValueList{{"type", AnyValue("ADDED")}, {"n", AnyValue(int64_t{7})}};

  write([&](Pipeline& p, CommitCallback cb) { p.logs().add(std::span<const LogRecord>(records), cb); });

  auto got = rows(
      "SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ts, TraceId, SpanId, TraceFlags, SeverityText, "
      "SeverityNumber, ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeName, ScopeVersion, "
      "ScopeAttributes, LogAttributes, EventName FROM otel_logs ORDER BY Timestamp");
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i]["ts"], std::to_string(ts + int64_t(i)));
    EXPECT_EQ(got[i]["TraceId"], "5b8efff798038103d269b633813fc60c");
    EXPECT_EQ(got[i]["SpanId"], "eee19b7ec3c1b174");
    EXPECT_EQ(got[i]["TraceFlags"], 1);
    EXPECT_EQ(got[i]["SeverityText"], "Warning");
    EXPECT_EQ(got[i]["SeverityNumber"], 13);
    EXPECT_EQ(got[i]["ServiceName"], "checkout");
    EXPECT_EQ(got[i]["ResourceSchemaUrl"], "https://opentelemetry.io/schemas/1.21.0");
    EXPECT_EQ(got[i]["ResourceAttributes"]["k8s.namespace.name"], "krateo-system");
    EXPECT_EQ(got[i]["ScopeName"], "kobs.test");
    EXPECT_EQ(got[i]["ScopeVersion"], "1.2.3");
    EXPECT_EQ(got[i]["ScopeAttributes"]["scope.attr"], "s");
    EXPECT_EQ(got[i]["EventName"], "k8s.event");
    const auto& a = got[i]["LogAttributes"];
    EXPECT_EQ(a["str"], "välue ✓ 日本語");
    EXPECT_EQ(a["int"], "-42");
    EXPECT_EQ(a["bool"], "true");
    EXPECT_EQ(a["double"], "3.25");
    EXPECT_EQ(a["bytes"], "AQL/");
    EXPECT_EQ(a["array"], R"(["a",1,false])");
    EXPECT_EQ(a["map"], R"({"a":"x","z":1})");  // sorted keys, as the exporter's AsString
  }
  EXPECT_EQ(got[0]["Body"], "héllo wörld 👋\nsecond line\ttab");
  EXPECT_EQ(got[1]["Body"], std::string(1 << 20, 'B'));
  EXPECT_EQ(got[2]["Body"], R"({"n":7,"type":"ADDED"})");
}

// With batch.max_age an hour away, a lone record still reaches the store: the
// flusher seals it after the linger (nothing calls flush()).
TEST_F(RoundTripTest, ALoneRecordIsNotHeldForMaxAge) {
  testing::TempDir buf;
  PipelineOptions po;
  po.buffer.dir = buf.path();
  po.buffer.fsync = FsyncPolicy::kNever;
  po.batch.max_age = std::chrono::hours(1);
  po.batch.linger = std::chrono::milliseconds(5);
  Pipeline p(*store_, targetsFromSchema(*schema_), po);
  p.start();
  for (int i = 0; i < 3; ++i) {  // each lone record, one after the other
    std::promise<bool> committed;
    LogRecord r;
    r.body = "lone-" + std::to_string(i);
    r.time_unix_nano = 1700000000000000000LL + i;
    p.logs().add(r, [&committed](bool ok) { committed.set_value(ok); });
    auto f = committed.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(60)), std::future_status::ready) << "record " << i;
    EXPECT_TRUE(f.get());
  }
  EXPECT_EQ(p.logs().stats().batches_sealed.load(), 3u);
  p.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

TEST_F(RoundTripTest, SpansFillTracesAndTheTraceIdLookup) {
  auto resource = std::make_shared<Resource>();
  resource->attributes = {{"service.name", "frontend"}};
  Span s;
  s.resource = resource;
  s.trace_id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  s.span_id = {1, 1, 1, 1, 1, 1, 1, 1};
  s.name = "GET /events";
  s.kind = SpanKind::kServer;
  s.start_time_unix_nano = 1764000000000000001;
  s.end_time_unix_nano = 1764000000250000001;
  s.status_code = StatusCode::kError;
  s.status_message = "boom";
  s.attributes = {{"http.status_code", int64_t{500}}};
  s.events = {{1764000000100000000, "exception", {{"exception.type", "E"}}}};
  s.links = {{s.trace_id, {2, 2, 2, 2, 2, 2, 2, 2}, "ts=1", {{"l", "v"}}}};
  write([&](Pipeline& p, CommitCallback cb) { p.traces()->add(s, cb); });
  auto got = rows(
      "SELECT TraceId, SpanName, SpanKind, ServiceName, Duration, StatusCode, StatusMessage, SpanAttributes, "
      "Events.Name, Events.Attributes, Links.SpanId, Links.TraceState FROM otel_traces");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["TraceId"], "0102030405060708090a0b0c0d0e0f10");
  EXPECT_EQ(got[0]["SpanKind"], "SPAN_KIND_SERVER");
  EXPECT_EQ(got[0]["StatusCode"], "STATUS_CODE_ERROR");
  EXPECT_EQ(got[0]["Duration"], 250000000);
  EXPECT_EQ(got[0]["SpanAttributes"]["http.status_code"], "500");
  EXPECT_EQ(got[0]["Events.Name"][0], "exception");
  EXPECT_EQ(got[0]["Events.Attributes"][0]["exception.type"], "E");
  EXPECT_EQ(got[0]["Links.SpanId"][0], "0202020202020202");
  EXPECT_EQ(got[0]["Links.TraceState"][0], "ts=1");
  auto lookup = rows("SELECT TraceId FROM otel_traces_trace_id_ts");
  ASSERT_EQ(lookup.size(), 1u);
  EXPECT_EQ(lookup[0]["TraceId"], "0102030405060708090a0b0c0d0e0f10");
}

TEST_F(RoundTripTest, EveryMetricTypeLandsInItsTable) {
  auto resource = std::make_shared<Resource>();
  resource->attributes = {{"service.name", "node"}};
  auto point = [&](MetricType t, const char* name) {
    MetricPoint m;
    m.resource = resource;
    m.type = t;
    m.name = name;
    m.time_unix_nano = 1764000000000000000;
    m.attributes = {{"cpu", "0"}};
    return m;
  };
  auto g = point(MetricType::kGauge, "g");
  g.value = 1.5;
  auto s = point(MetricType::kSum, "s");
  s.value = 10;
  s.is_monotonic = true;
  s.aggregation_temporality = 2;
  auto h = point(MetricType::kHistogram, "h");
  h.count = 3;
  h.sum = 6;
  h.bucket_counts = {1, 2};
  h.explicit_bounds = {2.5};
  auto e = point(MetricType::kExponentialHistogram, "e");
  e.count = 2;
  e.scale = 3;
  e.positive_bucket_counts = {1, 1};
  auto q = point(MetricType::kSummary, "q");
  q.count = 4;
  q.quantiles = {{0.5, 1.0}, {0.99, 9.0}};
  write([&](Pipeline& p, CommitCallback cb) {
    p.metrics(MetricType::kGauge)->add(g);
    p.metrics(MetricType::kSum)->add(s);
    p.metrics(MetricType::kHistogram)->add(h);
    p.metrics(MetricType::kExponentialHistogram)->add(e);
    p.metrics(MetricType::kSummary)->add(q, cb);
    p.flush();
  });
  // The summary was sealed last; flush everything and give the sender time for the rest.
  auto count = [&](const std::string& table) { return rows("SELECT count() AS n FROM " + table)[0]["n"]; };
  for (int i = 0; i < 100 && count("otel_metrics_exponential_histogram") != 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(rows("SELECT Value FROM otel_metrics_gauge")[0]["Value"], 1.5);
  EXPECT_EQ(rows("SELECT IsMonotonic, AggregationTemporality FROM otel_metrics_sum")[0]["IsMonotonic"], true);
  auto hist = rows("SELECT Count, BucketCounts, ExplicitBounds FROM otel_metrics_histogram")[0];
  EXPECT_EQ(hist["BucketCounts"], nlohmann::json::array({1, 2}));
  EXPECT_EQ(hist["ExplicitBounds"], nlohmann::json::array({2.5}));
  EXPECT_EQ(rows("SELECT Scale FROM otel_metrics_exponential_histogram")[0]["Scale"], 3);
  EXPECT_EQ(rows("SELECT ValueAtQuantiles.Value AS v FROM otel_metrics_summary")[0]["v"], nlohmann::json::array({1.0, 9.0}));
}

}  // namespace
}  // namespace kobs::pipeline
