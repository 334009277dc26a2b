// Golden test: one OTLP request per signal, sent over OTLP/HTTP (protobuf and
// OTLP JSON) to a real receiver, pipeline and embedded store, and every column
// of every row compared with values derived by hand from the ClickHouse
// exporter's rules (shared/reference/otel-clickhouse.md §1):
//   - ids hex, "" when all zero (exemplar ids: always hex);
//   - Map values by AsString: ints decimal, bools true/false, doubles in ES6
//     form, bytes base64, arrays/kvlists JSON with sorted keys;
//   - Timestamp = time, or observed time when time is 0; TraceFlags = low
//     byte of flags; SpanKind/StatusCode as SPAN_KIND_*/STATUS_CODE_*;
//     Duration = end - start in ns; metric values Float64.
// For both table layouts kobs writes: ClickStack's and the exporter's.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "collect/otlp/otlp_decode.h"
#include "collect/otlp/otlp_fixture.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "store/clickhouse/body_codec.h"

namespace kobs::collect::otlp {
namespace {

namespace pb = opentelemetry::proto;
using nlohmann::json;
using store::schema::TableKind;
using store::schema::Variant;

constexpr uint64_t kT0 = 1700000000000000000ull;  // 2023-11-14 22:13:20 UTC

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(char(x));
  return s;
}
const std::string kTrace = bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10});
const std::string kTrace2 = bytes({0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00});
const std::string kSpan = bytes({0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8});
const std::string kSpan2 = bytes({0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8});
const std::string kTraceHex = "0102030405060708090a0b0c0d0e0f10";
const std::string kTrace2Hex = "ffeeddccbbaa99887766554433221100";
const std::string kSpanHex = "a1a2a3a4a5a6a7a8";
const std::string kSpan2Hex = "b1b2b3b4b5b6b7b8";

void kv(google::protobuf::RepeatedPtrField<pb::common::v1::KeyValue>* attrs, const std::string& key,
        const std::function<void(pb::common::v1::AnyValue*)>& set) {
  auto* a = attrs->Add();
  a->set_key(key);
  set(a->mutable_value());
}
void kvs(google::protobuf::RepeatedPtrField<pb::common::v1::KeyValue>* attrs, const std::string& key,
         const std::string& value) {
  kv(attrs, key, [&](auto* v) { v->set_string_value(value); });
}

// A resource holding every AnyValue kind, and a scope with every field.
void fillResource(pb::resource::v1::Resource* r, const std::string& service) {
  auto* a = r->mutable_attributes();
  kvs(a, "service.name", service);
  kv(a, "host.up", [](auto* v) { v->set_bool_value(true); });
  kv(a, "pid", [](auto* v) { v->set_int_value(-4242); });
  kv(a, "ratio", [](auto* v) { v->set_double_value(0.25); });
  kv(a, "big", [](auto* v) { v->set_double_value(1e21); });
  kv(a, "small", [](auto* v) { v->set_double_value(1.5e-7); });
  kv(a, "whole", [](auto* v) { v->set_double_value(3.0); });
  kv(a, "raw", [](auto* v) { v->set_bytes_value(bytes({1, 2, 3})); });
  kv(a, "tags", [](auto* v) {
    auto* arr = v->mutable_array_value();
    arr->add_values()->set_string_value("a");
    arr->add_values()->set_int_value(1);
    arr->add_values()->set_bool_value(true);
    arr->add_values()->set_double_value(2.5);
  });
  kv(a, "nested", [](auto* v) {
    auto* l = v->mutable_kvlist_value()->mutable_values();
    kvs(l, "z", "last \"q\"");
    kv(l, "a", [](auto* v2) { kv(v2->mutable_kvlist_value()->mutable_values(), "b", [](auto* v3) { v3->set_double_value(2.5); }); });
  });
  kv(a, "empty", [](auto*) {});
}
// What the rows hold for fillResource(): AsString of each value.
json resourceMap(const std::string& service) {
  return {{"service.name", service}, {"host.up", "true"}, {"pid", "-4242"}, {"ratio", "0.25"},
          {"big", "1e+21"}, {"small", "1.5e-7"}, {"whole", "3"}, {"raw", "AQID"},
          {"tags", R"(["a",1,true,2.5])"}, {"nested", R"({"a":{"b":2.5},"z":"last \"q\""})"}, {"empty", ""}};
}

void fillScope(pb::common::v1::InstrumentationScope* s) {
  s->set_name("io.kobs.golden");
  s->set_version("1.2.3");
  kvs(s->mutable_attributes(), "scope.attr", "x");
  s->set_dropped_attributes_count(3);
}
const std::string kResourceSchema = "https://opentelemetry.io/schemas/1.21.0";
const std::string kScopeSchema = "https://opentelemetry.io/schemas/1.20.0";

pb::collector::logs::v1::ExportLogsServiceRequest logsRequest() {
  pb::collector::logs::v1::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  fillResource(rl->mutable_resource(), "checkout");
  rl->set_schema_url(kResourceSchema);
  auto* sl = rl->add_scope_logs();
  fillScope(sl->mutable_scope());
  sl->set_schema_url(kScopeSchema);
  auto* l1 = sl->add_log_records();
  l1->set_time_unix_nano(kT0 + 123456789);
  l1->set_observed_time_unix_nano(kT0 + 999999999);
  l1->set_severity_number(pb::logs::v1::SEVERITY_NUMBER_ERROR);
  l1->set_severity_text("ERROR");
  l1->mutable_body()->set_string_value("payment failed");
  kv(l1->mutable_attributes(), "http.status_code", [](auto* v) { v->set_int_value(502); });
  kv(l1->mutable_attributes(), "retry", [](auto* v) { v->set_bool_value(false); });
  l1->set_trace_id(kTrace);
  l1->set_span_id(kSpan);
  l1->set_flags(0x301);  // low byte 0x01 is the trace flags
  l1->set_event_name("payment.failure");
  auto* l2 = sl->add_log_records();
  l2->set_observed_time_unix_nano(kT0 + 2000000000);  // no time: the observed time is used
  auto* body = l2->mutable_body()->mutable_kvlist_value()->mutable_values();
  kvs(body, "msg", "structured");
  kv(body, "n", [](auto* v) { v->set_int_value(3); });
  l2->set_severity_number(pb::logs::v1::SEVERITY_NUMBER_INFO2);
  return req;
}

json expectedLogs(Variant variant) {
  json common = {{"ServiceName", "checkout"}, {"ResourceSchemaUrl", kResourceSchema},
                 {"ResourceAttributes", resourceMap("checkout")}, {"ScopeSchemaUrl", kScopeSchema},
                 {"ScopeName", "io.kobs.golden"}, {"ScopeVersion", "1.2.3"}, {"ScopeAttributes", {{"scope.attr", "x"}}}};
  json r1 = common, r2 = common;
  r1.update({{"Timestamp", "2023-11-14 22:13:20.123456789"}, {"TraceId", kTraceHex}, {"SpanId", kSpanHex},
             {"TraceFlags", 1}, {"SeverityText", "ERROR"}, {"SeverityNumber", 17}, {"Body", "payment failed"},
             {"LogAttributes", {{"http.status_code", "502"}, {"retry", "false"}}}, {"EventName", "payment.failure"}});
  r2.update({{"Timestamp", "2023-11-14 22:13:22.000000000"}, {"TraceId", ""}, {"SpanId", ""}, {"TraceFlags", 0},
             {"SeverityText", ""}, {"SeverityNumber", 10}, {"Body", R"({"msg":"structured","n":3})"},
             {"LogAttributes", json::object()}, {"EventName", ""}});
  if (variant == Variant::kExporter) {
    r1["TimestampTime"] = "2023-11-14 22:13:20";
    r2["TimestampTime"] = "2023-11-14 22:13:22";
  }
  return json::array({r1, r2});
}

pb::collector::trace::v1::ExportTraceServiceRequest traceRequest() {
  pb::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  fillResource(rs->mutable_resource(), "checkout");
  rs->set_schema_url(kResourceSchema);
  auto* ss = rs->add_scope_spans();
  fillScope(ss->mutable_scope());
  ss->set_schema_url(kScopeSchema);
  auto* s1 = ss->add_spans();
  s1->set_trace_id(kTrace);
  s1->set_span_id(kSpan);
  s1->set_trace_state("k=v");
  s1->set_name("GET /cart");
  s1->set_kind(pb::trace::v1::Span::SPAN_KIND_SERVER);
  s1->set_start_time_unix_nano(kT0);
  s1->set_end_time_unix_nano(kT0 + 1500000000);
  kvs(s1->mutable_attributes(), "http.method", "GET");
  kv(s1->mutable_attributes(), "http.route.count", [](auto* v) { v->set_int_value(2); });
  auto* e1 = s1->add_events();
  e1->set_time_unix_nano(kT0 + 500000000);
  e1->set_name("cache miss");
  kvs(e1->mutable_attributes(), "key", "cart");
  auto* e2 = s1->add_events();
  e2->set_time_unix_nano(kT0 + 600000001);
  e2->set_name("retry");
  auto* link = s1->add_links();
  link->set_trace_id(kTrace2);
  link->set_span_id(kSpan2);
  link->set_trace_state("x=y");
  kvs(link->mutable_attributes(), "link.kind", "follows");
  s1->mutable_status()->set_code(pb::trace::v1::Status::STATUS_CODE_ERROR);
  s1->mutable_status()->set_message("boom");
  auto* s2 = ss->add_spans();
  s2->set_trace_id(kTrace);
  s2->set_span_id(kSpan2);
  s2->set_parent_span_id(kSpan);
  s2->set_name("consume");
  s2->set_kind(pb::trace::v1::Span::SPAN_KIND_CONSUMER);
  s2->set_start_time_unix_nano(kT0 + 100);
  s2->set_end_time_unix_nano(kT0 + 350);
  s2->mutable_status()->set_code(pb::trace::v1::Status::STATUS_CODE_OK);
  return req;
}

json expectedSpans() {
  json common = {{"TraceId", kTraceHex}, {"ServiceName", "checkout"}, {"ResourceAttributes", resourceMap("checkout")},
                 {"ScopeName", "io.kobs.golden"}, {"ScopeVersion", "1.2.3"}};
  json r1 = common, r2 = common;
  r1.update({{"Timestamp", "2023-11-14 22:13:20.000000000"}, {"SpanId", kSpanHex}, {"ParentSpanId", ""},
             {"TraceState", "k=v"}, {"SpanName", "GET /cart"}, {"SpanKind", "SPAN_KIND_SERVER"},
             {"SpanAttributes", {{"http.method", "GET"}, {"http.route.count", "2"}}}, {"Duration", 1500000000},
             {"StatusCode", "STATUS_CODE_ERROR"}, {"StatusMessage", "boom"},
             {"Events.Timestamp", {"2023-11-14 22:13:20.500000000", "2023-11-14 22:13:20.600000001"}},
             {"Events.Name", {"cache miss", "retry"}},
             {"Events.Attributes", {{{"key", "cart"}}, json::object()}},
             {"Links.TraceId", {kTrace2Hex}}, {"Links.SpanId", {kSpan2Hex}}, {"Links.TraceState", {"x=y"}},
             {"Links.Attributes", {{{"link.kind", "follows"}}}}});
  r2.update({{"Timestamp", "2023-11-14 22:13:20.000000100"}, {"SpanId", kSpan2Hex}, {"ParentSpanId", kSpanHex},
             {"TraceState", ""}, {"SpanName", "consume"}, {"SpanKind", "SPAN_KIND_CONSUMER"},
             {"SpanAttributes", json::object()}, {"Duration", 250}, {"StatusCode", "STATUS_CODE_OK"},
             {"StatusMessage", ""}, {"Events.Timestamp", json::array()}, {"Events.Name", json::array()},
             {"Events.Attributes", json::array()}, {"Links.TraceId", json::array()}, {"Links.SpanId", json::array()},
             {"Links.TraceState", json::array()}, {"Links.Attributes", json::array()}});
  return json::array({r1, r2});
}

pb::metrics::v1::Exemplar* exemplar(google::protobuf::RepeatedPtrField<pb::metrics::v1::Exemplar>* ex, bool ids) {
  auto* e = ex->Add();
  kvs(e->mutable_filtered_attributes(), "user", "u1");
  e->set_time_unix_nano(kT0 + 5);
  if (ids) {
    e->set_as_int(7);
    e->set_span_id(kSpan);
    e->set_trace_id(kTrace);
  } else {
    e->set_as_double(0.5);
  }
  return e;
}

pb::collector::metrics::v1::ExportMetricsServiceRequest metricsRequest() {
  pb::collector::metrics::v1::ExportMetricsServiceRequest req;
  auto* rm = req.add_resource_metrics();
  fillResource(rm->mutable_resource(), "meter");
  rm->set_schema_url(kResourceSchema);
  auto* sm = rm->add_scope_metrics();
  fillScope(sm->mutable_scope());
  sm->set_schema_url(kScopeSchema);

  auto* g = sm->add_metrics();
  g->set_name("temp");
  g->set_description("temperature");
  g->set_unit("Cel");
  auto* gp = g->mutable_gauge()->add_data_points();
  kvs(gp->mutable_attributes(), "room", "a");
  gp->set_time_unix_nano(kT0 + 10);
  gp->set_as_double(21.5);
  exemplar(gp->mutable_exemplars(), true);
  auto* gp2 = g->mutable_gauge()->add_data_points();
  kvs(gp2->mutable_attributes(), "room", "b");
  gp2->set_start_time_unix_nano(kT0);
  gp2->set_time_unix_nano(kT0 + 20);
  gp2->set_as_int(22);
  gp2->set_flags(1);  // NO_RECORDED_VALUE
  exemplar(gp2->mutable_exemplars(), false);

  auto* s = sm->add_metrics();
  s->set_name("requests");
  s->mutable_sum()->set_is_monotonic(true);
  s->mutable_sum()->set_aggregation_temporality(pb::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
  auto* sp = s->mutable_sum()->add_data_points();
  sp->set_start_time_unix_nano(kT0);
  sp->set_time_unix_nano(kT0 + 30);
  sp->set_as_int(100);

  auto* h = sm->add_metrics();
  h->set_name("latency");
  h->set_unit("ms");
  h->mutable_histogram()->set_aggregation_temporality(pb::metrics::v1::AGGREGATION_TEMPORALITY_DELTA);
  auto* hp = h->mutable_histogram()->add_data_points();
  hp->set_start_time_unix_nano(kT0);
  hp->set_time_unix_nano(kT0 + 40);
  hp->set_count(4);
  hp->set_sum(10.5);
  hp->add_bucket_counts(1);
  hp->add_bucket_counts(2);
  hp->add_bucket_counts(1);
  hp->add_explicit_bounds(1);
  hp->add_explicit_bounds(5);
  hp->set_min(0.5);
  hp->set_max(7);
  exemplar(hp->mutable_exemplars(), true);
  auto* hp2 = h->mutable_histogram()->add_data_points();  // no sum, min, max: 0 in the row
  hp2->set_time_unix_nano(kT0 + 41);
  hp2->set_count(0);

  auto* e = sm->add_metrics();
  e->set_name("sizes");
  e->mutable_exponential_histogram()->set_aggregation_temporality(pb::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
  auto* ep = e->mutable_exponential_histogram()->add_data_points();
  ep->set_time_unix_nano(kT0 + 50);
  ep->set_count(5);
  ep->set_sum(20);
  ep->set_scale(-2);
  ep->set_zero_count(1);
  ep->mutable_positive()->set_offset(-1);
  ep->mutable_positive()->add_bucket_counts(1);
  ep->mutable_positive()->add_bucket_counts(2);
  ep->mutable_negative()->set_offset(3);
  ep->mutable_negative()->add_bucket_counts(1);
  ep->set_min(1);
  ep->set_max(9);

  auto* q = sm->add_metrics();
  q->set_name("rt");
  auto* qp = q->mutable_summary()->add_data_points();
  qp->set_time_unix_nano(kT0 + 60);
  qp->set_count(10);
  qp->set_sum(55);
  auto* q1 = qp->add_quantile_values();
  q1->set_quantile(0.5);
  q1->set_value(5);
  auto* q2 = qp->add_quantile_values();
  q2->set_quantile(0.99);
  q2->set_value(9.9);

  sm->add_metrics()->set_name("no-data");  // rejected: partial success
  return req;
}

json metricCommon(const std::string& name, const std::string& desc, const std::string& unit) {
  return {{"ResourceAttributes", resourceMap("meter")}, {"ResourceSchemaUrl", kResourceSchema},
          {"ScopeName", "io.kobs.golden"}, {"ScopeVersion", "1.2.3"}, {"ScopeAttributes", {{"scope.attr", "x"}}},
          {"ScopeDroppedAttrCount", 3}, {"ScopeSchemaUrl", kScopeSchema}, {"ServiceName", "meter"},
          {"MetricName", name}, {"MetricDescription", desc}, {"MetricUnit", unit}};
}
json exemplarCols(bool with_ids, bool present = true) {
  if (!present)
    return {{"Exemplars.FilteredAttributes", json::array()}, {"Exemplars.TimeUnix", json::array()},
            {"Exemplars.Value", json::array()}, {"Exemplars.SpanId", json::array()},
            {"Exemplars.TraceId", json::array()}};
  return {{"Exemplars.FilteredAttributes", {{{"user", "u1"}}}},
          {"Exemplars.TimeUnix", {"2023-11-14 22:13:20.000000005"}},
          {"Exemplars.Value", {with_ids ? 7.0 : 0.5}},
          {"Exemplars.SpanId", {with_ids ? kSpanHex : std::string(16, '0')}},
          {"Exemplars.TraceId", {with_ids ? kTraceHex : std::string(32, '0')}}};
}

json expectedGauge() {
  json r1 = metricCommon("temp", "temperature", "Cel"), r2 = r1;
  r1.update({{"Attributes", {{"room", "a"}}}, {"StartTimeUnix", "1970-01-01 00:00:00.000000000"},
             {"TimeUnix", "2023-11-14 22:13:20.000000010"}, {"Flags", 0}, {"Value", 21.5}});
  r1.update(exemplarCols(true));
  r2.update({{"Attributes", {{"room", "b"}}}, {"StartTimeUnix", "2023-11-14 22:13:20.000000000"},
             {"TimeUnix", "2023-11-14 22:13:20.000000020"}, {"Flags", 1}, {"Value", 22.0}});
  r2.update(exemplarCols(false));
  return json::array({r1, r2});
}
json expectedSum() {
  json r = metricCommon("requests", "", "");
  r.update({{"Attributes", json::object()}, {"StartTimeUnix", "2023-11-14 22:13:20.000000000"},
            {"TimeUnix", "2023-11-14 22:13:20.000000030"}, {"Flags", 0}, {"Value", 100.0},
            {"AggregationTemporality", 2}, {"IsMonotonic", true}});
  r.update(exemplarCols(false, false));
  return json::array({r});
}
json expectedHistogram() {
  json r1 = metricCommon("latency", "", "ms"), r2 = r1;
  r1.update({{"Attributes", json::object()}, {"StartTimeUnix", "2023-11-14 22:13:20.000000000"},
             {"TimeUnix", "2023-11-14 22:13:20.000000040"}, {"Flags", 0}, {"Count", 4}, {"Sum", 10.5},
             {"BucketCounts", {1, 2, 1}}, {"ExplicitBounds", {1.0, 5.0}}, {"Min", 0.5}, {"Max", 7.0},
             {"AggregationTemporality", 1}});
  r1.update(exemplarCols(true));
  r2.update({{"Attributes", json::object()}, {"StartTimeUnix", "1970-01-01 00:00:00.000000000"},
             {"TimeUnix", "2023-11-14 22:13:20.000000041"}, {"Flags", 0}, {"Count", 0}, {"Sum", 0.0},
             {"BucketCounts", json::array()}, {"ExplicitBounds", json::array()}, {"Min", 0.0}, {"Max", 0.0},
             {"AggregationTemporality", 1}});
  r2.update(exemplarCols(false, false));
  return json::array({r1, r2});
}
json expectedExpHistogram() {
  json r = metricCommon("sizes", "", "");
  r.update({{"Attributes", json::object()}, {"StartTimeUnix", "1970-01-01 00:00:00.000000000"},
            {"TimeUnix", "2023-11-14 22:13:20.000000050"}, {"Flags", 0}, {"Count", 5}, {"Sum", 20.0},
            {"Scale", -2}, {"ZeroCount", 1}, {"PositiveOffset", -1}, {"PositiveBucketCounts", {1, 2}},
            {"NegativeOffset", 3}, {"NegativeBucketCounts", {1}}, {"Min", 1.0}, {"Max", 9.0},
            {"AggregationTemporality", 2}});
  r.update(exemplarCols(false, false));
  return json::array({r});
}
json expectedSummary() {
  json r = metricCommon("rt", "", "");
  r.update({{"Attributes", json::object()}, {"StartTimeUnix", "1970-01-01 00:00:00.000000000"},
            {"TimeUnix", "2023-11-14 22:13:20.000000060"}, {"Flags", 0}, {"Count", 10}, {"Sum", 55.0},
            {"ValueAtQuantiles.Quantile", {0.5, 0.99}}, {"ValueAtQuantiles.Value", {5.0, 9.9}}});
  return json::array({r});
}

// Compares rows column by column, naming the first difference.
void expectRows(const std::vector<json>& got, const json& want, const std::string& table) {
  ASSERT_EQ(got.size(), want.size()) << table;
  for (size_t i = 0; i < got.size(); ++i) {
    std::set<std::string> got_cols, want_cols;
    for (auto& [k, _] : got[i].items()) got_cols.insert(k);
    for (auto& [k, _] : want[i].items()) want_cols.insert(k);
    EXPECT_EQ(got_cols, want_cols) << table << " row " << i << ": the table's columns and the expected ones differ";
    for (auto& [k, v] : want[i].items()) {
      if (!got[i].contains(k)) continue;
      EXPECT_EQ(got[i][k], v) << table << " row " << i << " column " << k;
    }
  }
}

std::string toJson(const google::protobuf::Message& m);

class OtlpGoldenTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    const std::string db = GetParam() == Variant::kClickStack ? "otlp_golden_cs" : "otlp_golden_ex";
    stack_ = std::make_unique<testing::OtlpStack>(db, GetParam());
    truncateAll();
  }
  void TearDown() override { stack_.reset(); }

  void truncateAll() {
    for (auto k : store::schema::allTableKinds())
      stack_->store->execute("TRUNCATE TABLE IF EXISTS `" + stack_->database + "`.`" + stack_->table(k) + "`");
  }

  std::vector<json> select(TableKind kind, const std::string& order) {
    return stack_->rows("SELECT * FROM `" + stack_->database + "`.`" + stack_->table(kind) + "` ORDER BY " + order +
                        " SETTINGS output_format_json_quote_64bit_integers=0");
  }

  void send(const std::string& path, const google::protobuf::Message& m, bool as_json, const std::string& want_body) {
    std::string body = as_json ? toJson(m) : m.SerializeAsString();
    auto r = stack_->post(path, body, {std::string("Content-Type: ") + (as_json ? "application/json" : "application/x-protobuf")});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("content-type"), as_json ? "application/json" : "application/x-protobuf");
    if (as_json) {
      EXPECT_EQ(nlohmann::json::parse(r.body), nlohmann::json::parse(want_body)) << path;
    }
  }

  void checkAll() {
    stack_->drain();
    const Variant v = GetParam();
    expectRows(select(TableKind::kLogs, "Timestamp"), expectedLogs(v), "logs");
    expectRows(select(TableKind::kTraces, "Timestamp"), expectedSpans(), "traces");
    expectRows(select(TableKind::kMetricsGauge, "TimeUnix"), expectedGauge(), "gauge");
    expectRows(select(TableKind::kMetricsSum, "TimeUnix"), expectedSum(), "sum");
    expectRows(select(TableKind::kMetricsHistogram, "TimeUnix"), expectedHistogram(), "histogram");
    expectRows(select(TableKind::kMetricsExponentialHistogram, "TimeUnix"), expectedExpHistogram(), "exp_histogram");
    expectRows(select(TableKind::kMetricsSummary, "TimeUnix"), expectedSummary(), "summary");
  }

  void sendAll(bool as_json) {
    send("/v1/logs", logsRequest(), as_json, "{}");
    send("/v1/traces", traceRequest(), as_json, "{}");
    send("/v1/metrics", metricsRequest(), as_json,
         R"j({"partialSuccess":{"rejectedDataPoints":"1","errorMessage":"metric \"no-data\" has no data (no gauge, sum, histogram, exponential histogram or summary)"}})j");
  }

  std::unique_ptr<testing::OtlpStack> stack_;
};

// OTLP JSON of a request, written by hand rules: protobuf's JSON mapping with
// the ids turned from base64 into hex (what OTLP JSON senders write).
std::string toJson(const google::protobuf::Message& m) {
  std::string s;
  google::protobuf::util::JsonPrintOptions o;
  (void)google::protobuf::util::MessageToJsonString(m, &s, o);
  auto j = nlohmann::json::parse(s);
  std::function<void(nlohmann::json&)> fix = [&](nlohmann::json& v) {
    if (v.is_object()) {
      for (auto& [k, x] : v.items()) {
        if ((k == "traceId" || k == "spanId" || k == "parentSpanId") && x.is_string()) {
          // base64 -> hex
          static const std::string kAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
          std::string in = x.get<std::string>(), raw;
          int val = 0, bits = -8;
          for (char c : in) {
            if (c == '=') break;
            val = (val << 6) + int(kAlpha.find(c));
            bits += 6;
            if (bits >= 0) {
              raw.push_back(char((val >> bits) & 0xFF));
              bits -= 8;
            }
          }
          static const char* kHex = "0123456789abcdef";
          std::string hex;
          for (unsigned char c : raw) {
            hex.push_back(kHex[c >> 4]);
            hex.push_back(kHex[c & 15]);
          }
          x = hex;
        } else {
          fix(x);
        }
      }
    } else if (v.is_array()) {
      for (auto& x : v) fix(x);
    }
  };
  fix(j);
  return j.dump();
}

TEST_P(OtlpGoldenTest, ProtobufRowsMatchTheExporterColumnForColumn) {
  sendAll(false);
  checkAll();
}

TEST_P(OtlpGoldenTest, OtlpJsonGivesTheSameRowsAsProtobuf) {
  sendAll(true);
  checkAll();
}

TEST_P(OtlpGoldenTest, GzipAndZstdBodiesGiveTheSameRows) {
  // Compressed with the command-line tools' libraries through the store's codec.
  auto gz = store::compressBody(store::BodyCompression::kGzip, logsRequest().SerializeAsString(), 6);
  auto r = stack_->post("/v1/logs", gz, {"Content-Type: application/x-protobuf", "Content-Encoding: gzip"});
  ASSERT_EQ(r.status, 200) << r.body;
  auto zs = store::compressBody(store::BodyCompression::kZstd, traceRequest().SerializeAsString(), 3);
  r = stack_->post("/v1/traces", zs, {"Content-Type: application/x-protobuf", "Content-Encoding: zstd"});
  ASSERT_EQ(r.status, 200) << r.body;
  auto mz = store::compressBody(store::BodyCompression::kGzip, toJson(metricsRequest()), 6);
  r = stack_->post("/v1/metrics", mz, {"Content-Type: application/json", "Content-Encoding: gzip"});
  ASSERT_EQ(r.status, 200) << r.body;
  checkAll();
}

INSTANTIATE_TEST_SUITE_P(Layouts, OtlpGoldenTest, ::testing::Values(Variant::kClickStack, Variant::kExporter),
                         [](const auto& info) { return info.param == Variant::kClickStack ? "ClickStack" : "Exporter"; });

}  // namespace
}  // namespace kobs::collect::otlp
