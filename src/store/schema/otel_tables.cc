#include "store/schema/otel_tables.h"

namespace kobs::store::schema {
namespace {

const std::string kMap = "Map(LowCardinality(String), String)";
const std::string kLc = "LowCardinality(String)";
const std::string kZ = "CODEC(ZSTD(1))";

std::string materialized(const std::string& key) {
  return "MATERIALIZED ResourceAttributes['" + key + "'] CODEC(ZSTD(1))";
}

// ClickStack's `k=v` arrays that its text indexes cover (no storage: ALIAS).
ColumnDef itemsAlias(const std::string& name, const std::string& map) {
  return {name, "Array(String)",
          "ALIAS arrayMap((arr) -> concat(arr.1, '=', arr.2), " + map + "::Array(Tuple(String, String)))"};
}

IndexDef bloom(const std::string& name, const std::string& expr, const std::string& fpr) {
  return {name, expr, "bloom_filter(" + fpr + ")", 1};
}
IndexDef textArray(const std::string& name, const std::string& expr) {
  return {name, expr, "text(tokenizer = 'array')", 0};
}

// Bloom filters over the keys and values of each map, as both variants have them.
void mapBlooms(std::vector<IndexDef>& out, const std::string& prefix, const std::string& map) {
  out.push_back(bloom("idx_" + prefix + "_key", "mapKeys(" + map + ")", "0.01"));
  out.push_back(bloom("idx_" + prefix + "_value", "mapValues(" + map + ")", "0.01"));
}
// ClickStack's text flavour: keys, plus the k=v items array instead of values.
void mapTexts(std::vector<IndexDef>& out, const std::string& prefix, const std::string& map, const std::string& items) {
  out.push_back(textArray("idx_" + prefix + "_key", "mapKeys(" + map + ")"));
  out.push_back(textArray("idx_" + prefix + "_items", items));
}

TableDef logs(Variant variant, bool text) {
  TableDef t{.kind = TableKind::kLogs};
  const bool exporter = variant == Variant::kExporter;
  auto& c = t.columns;
  c.push_back({"Timestamp", "DateTime64(9)", "CODEC(Delta(8), ZSTD(1))"});
  if (exporter) c.push_back({"TimestampTime", "DateTime", "DEFAULT toDateTime(Timestamp)"});
  c.push_back({"TraceId", "String", kZ});
  c.push_back({"SpanId", "String", kZ});
  c.push_back({"TraceFlags", "UInt8", ""});
  c.push_back({"SeverityText", kLc, kZ});
  c.push_back({"SeverityNumber", "UInt8", ""});
  c.push_back({"ServiceName", kLc, kZ});
  c.push_back({"Body", "String", kZ});
  c.push_back({"ResourceSchemaUrl", kLc, kZ});
  c.push_back({"ResourceAttributes", kMap, kZ});
  c.push_back({"ScopeSchemaUrl", kLc, kZ});
  c.push_back({"ScopeName", "String", kZ});
  c.push_back({"ScopeVersion", kLc, kZ});
  c.push_back({"ScopeAttributes", kMap, kZ});
  c.push_back({"LogAttributes", kMap, kZ});
  c.push_back({"EventName", "String", kZ});
  if (!exporter) {
    for (const char* key : {"k8s.cluster.name", "k8s.container.name", "k8s.deployment.name", "k8s.namespace.name",
                            "k8s.node.name", "k8s.pod.name", "k8s.pod.uid", "deployment.environment.name"})
      c.push_back({std::string("__hdx_materialized_") + key, kLc, materialized(key)});
  }
  auto& ix = t.indexes;
  if (text) {
    c.push_back(itemsAlias("ResourceAttributeItems", "ResourceAttributes"));
    c.push_back(itemsAlias("ScopeAttributeItems", "ScopeAttributes"));
    c.push_back(itemsAlias("LogAttributeItems", "LogAttributes"));
    ix.push_back(textArray("idx_trace_id", "TraceId"));
    mapTexts(ix, "res_attr", "ResourceAttributes", "ResourceAttributeItems");
    mapTexts(ix, "scope_attr", "ScopeAttributes", "ScopeAttributeItems");
    mapTexts(ix, "log_attr", "LogAttributes", "LogAttributeItems");
    // Index expression Body (lowered by the preprocessor), so HyperDX's
    // hasAllTokens(Body, ...) can use it.
    ix.push_back({"idx_lower_body", "Body", "text(tokenizer = 'splitByNonAlpha', preprocessor = lower(Body))", 0});
  } else {
    ix.push_back(bloom("idx_trace_id", "TraceId", "0.001"));
    mapBlooms(ix, "res_attr", "ResourceAttributes");
    mapBlooms(ix, "scope_attr", "ScopeAttributes");
    mapBlooms(ix, "log_attr", "LogAttributes");
    if (exporter)
      ix.push_back({"idx_body", "Body", "tokenbf_v1(32768, 3, 0)", 8});
    else
      ix.push_back({"idx_lower_body", "lower(Body)", "tokenbf_v1(32768, 3, 0)", 8});
  }
  if (exporter) {
    t.partition_by = "toDate(TimestampTime)";
    t.primary_key = "(ServiceName, TimestampTime)";
    t.order_by = "(ServiceName, TimestampTime, Timestamp)";
    t.ttl_time = "TimestampTime";
    t.settings = {"index_granularity = 8192", "ttl_only_drop_parts = 1"};
  } else {
    t.partition_by = "toDate(Timestamp)";
    t.order_by = "(toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)";
    t.ttl_time = "toDateTime(Timestamp)";
    t.settings = {"index_granularity = 8192", "ttl_only_drop_parts = 1"};
    if (text) {
      t.settings.push_back("enable_block_number_column = 1");
      t.settings.push_back("enable_block_offset_column = 1");
    }
  }
  return t;
}

TableDef traces(Variant variant, bool text) {
  TableDef t{.kind = TableKind::kTraces};
  const bool exporter = variant == Variant::kExporter;
  auto& c = t.columns;
  c.push_back({"Timestamp", "DateTime64(9)", exporter ? "CODEC(Delta, ZSTD(1))" : "CODEC(Delta(8), ZSTD(1))"});
  c.push_back({"TraceId", "String", kZ});
  c.push_back({"SpanId", "String", kZ});
  c.push_back({"ParentSpanId", "String", kZ});
  c.push_back({"TraceState", "String", kZ});
  c.push_back({"SpanName", kLc, kZ});
  c.push_back({"SpanKind", kLc, kZ});
  c.push_back({"ServiceName", kLc, kZ});
  c.push_back({"ResourceAttributes", kMap, kZ});
  c.push_back({"ScopeName", "String", kZ});
  c.push_back({"ScopeVersion", "String", kZ});
  c.push_back({"SpanAttributes", kMap, kZ});
  c.push_back({"Duration", "UInt64", kZ});
  c.push_back({"StatusCode", kLc, kZ});
  c.push_back({"StatusMessage", "String", kZ});
  // Nested(...) flattened: what DESCRIBE shows either way (flatten_nested=1).
  c.push_back({"Events.Timestamp", "Array(DateTime64(9))", kZ});
  c.push_back({"Events.Name", "Array(LowCardinality(String))", kZ});
  c.push_back({"Events.Attributes", "Array(" + kMap + ")", kZ});
  c.push_back({"Links.TraceId", "Array(String)", kZ});
  c.push_back({"Links.SpanId", "Array(String)", kZ});
  c.push_back({"Links.TraceState", "Array(String)", kZ});
  c.push_back({"Links.Attributes", "Array(" + kMap + ")", kZ});
  auto& ix = t.indexes;
  if (!exporter) {
    c.push_back({"__hdx_materialized_rum.sessionId", "String", "MATERIALIZED ResourceAttributes['rum.sessionId'] CODEC(ZSTD(1))"});
    c.push_back({"SampleRate", "UInt64",
                 "MATERIALIZED greatest(toUInt64OrZero(SpanAttributes['SampleRate']), 1) CODEC(T64, ZSTD(1))"});
  }
  if (text) {
    c.push_back(itemsAlias("ResourceAttributeItems", "ResourceAttributes"));
    c.push_back(itemsAlias("SpanAttributeItems", "SpanAttributes"));
    ix.push_back(textArray("idx_trace_id", "TraceId"));
    ix.push_back(textArray("idx_rum_session_id", "`__hdx_materialized_rum.sessionId`"));
    mapTexts(ix, "res_attr", "ResourceAttributes", "ResourceAttributeItems");
    mapTexts(ix, "span_attr", "SpanAttributes", "SpanAttributeItems");
    ix.push_back({"idx_duration", "Duration", "minmax", 1});
    ix.push_back({"idx_lower_span_name", "SpanName", "text(tokenizer = 'splitByNonAlpha', preprocessor = lower(SpanName))", 0});
  } else {
    ix.push_back(bloom("idx_trace_id", "TraceId", "0.001"));
    if (!exporter) ix.push_back(bloom("idx_rum_session_id", "`__hdx_materialized_rum.sessionId`", "0.001"));
    mapBlooms(ix, "res_attr", "ResourceAttributes");
    mapBlooms(ix, "span_attr", "SpanAttributes");
    ix.push_back({"idx_duration", "Duration", "minmax", 1});
    if (!exporter) ix.push_back({"idx_lower_span_name", "lower(SpanName)", "tokenbf_v1(32768, 3, 0)", 8});
  }
  t.partition_by = "toDate(Timestamp)";
  t.order_by = "(ServiceName, SpanName, toDateTime(Timestamp))";
  t.ttl_time = exporter ? "toDateTime(Timestamp)" : "toDate(Timestamp)";
  t.settings = {"index_granularity = 8192", "ttl_only_drop_parts = 1"};
  return t;
}

TableDef traceIdTs() {
  TableDef t{.kind = TableKind::kTraceIdTs};
  t.columns = {
      {"TraceId", "String", kZ},
      {"Start", "DateTime", "CODEC(Delta, ZSTD(1))"},
      {"End", "DateTime", "CODEC(Delta, ZSTD(1))"},
  };
  t.indexes = {bloom("idx_trace_id", "TraceId", "0.01")};
  t.partition_by = "toDate(Start)";
  t.order_by = "(TraceId, Start)";
  t.ttl_time = "toDateTime(Start)";
  t.settings = {"index_granularity = 8192", "ttl_only_drop_parts = 1"};
  return t;
}

void metricsHead(TableDef& t, Variant variant) {
  const std::string delta = variant == Variant::kExporter ? "CODEC(Delta, ZSTD(1))" : "CODEC(Delta(8), ZSTD(1))";
  t.columns = {
      {"ResourceAttributes", kMap, kZ},
      {"ResourceSchemaUrl", "String", kZ},
      {"ScopeName", "String", kZ},
      {"ScopeVersion", "String", kZ},
      {"ScopeAttributes", kMap, kZ},
      {"ScopeDroppedAttrCount", "UInt32", kZ},
      {"ScopeSchemaUrl", "String", kZ},
      {"ServiceName", kLc, kZ},
      {"MetricName", "String", kZ},
      {"MetricDescription", "String", kZ},
      {"MetricUnit", "String", kZ},
      {"Attributes", kMap, kZ},
      {"StartTimeUnix", "DateTime64(9)", delta},
      {"TimeUnix", "DateTime64(9)", delta},
  };
}

void exemplars(TableDef& t) {
  t.columns.push_back({"Exemplars.FilteredAttributes", "Array(" + kMap + ")", kZ});
  t.columns.push_back({"Exemplars.TimeUnix", "Array(DateTime64(9))", kZ});
  t.columns.push_back({"Exemplars.Value", "Array(Float64)", kZ});
  t.columns.push_back({"Exemplars.SpanId", "Array(String)", kZ});
  t.columns.push_back({"Exemplars.TraceId", "Array(String)", kZ});
}

void metricsTail(TableDef& t, Variant variant) {
  mapBlooms(t.indexes, "res_attr", "ResourceAttributes");
  mapBlooms(t.indexes, "scope_attr", "ScopeAttributes");
  mapBlooms(t.indexes, "attr", "Attributes");
  t.partition_by = "toDate(TimeUnix)";
  t.order_by = "(ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))";
  t.ttl_time = "toDateTime(TimeUnix)";
  if (variant == Variant::kExporter)
    t.settings = {"index_granularity = 8192", "ttl_only_drop_parts = 1"};
  else
    t.settings = {"ttl_only_drop_parts = 1"};
}

TableDef metrics(TableKind kind, Variant variant) {
  TableDef t{.kind = kind};
  metricsHead(t, variant);
  auto& c = t.columns;
  const std::string delta = variant == Variant::kExporter ? "CODEC(Delta, ZSTD(1))" : "CODEC(Delta(8), ZSTD(1))";
  switch (kind) {
    case TableKind::kMetricsGauge:
    case TableKind::kMetricsSum:
      c.push_back({"Value", "Float64", kZ});
      c.push_back({"Flags", "UInt32", kZ});
      exemplars(t);
      if (kind == TableKind::kMetricsSum) {
        c.push_back({"AggregationTemporality", "Int32", kZ});
        c.push_back({"IsMonotonic", "Bool", variant == Variant::kExporter ? "CODEC(Delta, ZSTD(1))" : kZ});
      }
      break;
    case TableKind::kMetricsHistogram:
      c.push_back({"Count", "UInt64", delta});
      c.push_back({"Sum", "Float64", kZ});
      c.push_back({"BucketCounts", "Array(UInt64)", kZ});
      c.push_back({"ExplicitBounds", "Array(Float64)", kZ});
      exemplars(t);
      c.push_back({"Flags", "UInt32", kZ});
      c.push_back({"Min", "Float64", kZ});
      c.push_back({"Max", "Float64", kZ});
      c.push_back({"AggregationTemporality", "Int32", kZ});
      break;
    case TableKind::kMetricsExponentialHistogram:
      c.push_back({"Count", "UInt64", delta});
      c.push_back({"Sum", "Float64", kZ});
      c.push_back({"Scale", "Int32", kZ});
      c.push_back({"ZeroCount", "UInt64", kZ});
      c.push_back({"PositiveOffset", "Int32", kZ});
      c.push_back({"PositiveBucketCounts", "Array(UInt64)", kZ});
      c.push_back({"NegativeOffset", "Int32", kZ});
      c.push_back({"NegativeBucketCounts", "Array(UInt64)", kZ});
      exemplars(t);
      c.push_back({"Flags", "UInt32", kZ});
      c.push_back({"Min", "Float64", kZ});
      c.push_back({"Max", "Float64", kZ});
      c.push_back({"AggregationTemporality", "Int32", kZ});
      break;
    case TableKind::kMetricsSummary:
      c.push_back({"Count", "UInt64", delta});
      c.push_back({"Sum", "Float64", kZ});
      c.push_back({"ValueAtQuantiles.Quantile", "Array(Float64)", kZ});
      c.push_back({"ValueAtQuantiles.Value", "Array(Float64)", kZ});
      c.push_back({"Flags", "UInt32", kZ});
      break;
    default:
      break;
  }
  metricsTail(t, variant);
  return t;
}

}  // namespace

TableDef tableDef(TableKind kind, Variant variant, bool text_indexes) {
  switch (kind) {
    case TableKind::kLogs: return logs(variant, text_indexes);
    case TableKind::kTraces: return traces(variant, text_indexes);
    case TableKind::kTraceIdTs: return traceIdTs();
    default: return metrics(kind, variant);
  }
}

const std::vector<std::string>& requiredColumns(TableKind kind) {
  static const std::vector<std::string> kLogs = {
      "Timestamp", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber", "ServiceName", "Body",
      "ResourceSchemaUrl", "ResourceAttributes", "ScopeSchemaUrl", "ScopeName", "ScopeVersion", "ScopeAttributes",
      "LogAttributes"};
  static const std::vector<std::string> kTraces = {
      "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind", "ServiceName",
      "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes", "Duration", "StatusCode", "StatusMessage",
      "Events.Timestamp", "Events.Name", "Events.Attributes", "Links.TraceId", "Links.SpanId", "Links.TraceState",
      "Links.Attributes"};
  static const std::vector<std::string> kTraceIdTs = {"TraceId", "Start", "End"};
  static const std::vector<std::string> kHead = {
      "ResourceAttributes", "ResourceSchemaUrl", "ScopeName", "ScopeVersion", "ScopeAttributes", "ScopeDroppedAttrCount",
      "ScopeSchemaUrl", "ServiceName", "MetricName", "MetricDescription", "MetricUnit", "Attributes", "StartTimeUnix",
      "TimeUnix", "Flags"};
  static const std::vector<std::string> kExemplars = {"Exemplars.FilteredAttributes", "Exemplars.TimeUnix",
                                                      "Exemplars.Value", "Exemplars.SpanId", "Exemplars.TraceId"};
  auto with = [](std::vector<std::string> base, std::initializer_list<std::vector<std::string>> more) {
    for (const auto& m : more) base.insert(base.end(), m.begin(), m.end());
    return base;
  };
  static const std::vector<std::string> kGauge = with(kHead, {{"Value"}, kExemplars});
  static const std::vector<std::string> kSum = with(kHead, {{"Value"}, kExemplars, {"AggregationTemporality", "IsMonotonic"}});
  static const std::vector<std::string> kHistogram =
      with(kHead, {{"Count", "Sum", "BucketCounts", "ExplicitBounds"}, kExemplars, {"Min", "Max", "AggregationTemporality"}});
  static const std::vector<std::string> kExp = with(
      kHead, {{"Count", "Sum", "Scale", "ZeroCount", "PositiveOffset", "PositiveBucketCounts", "NegativeOffset",
               "NegativeBucketCounts"},
              kExemplars,
              {"Min", "Max", "AggregationTemporality"}});
  static const std::vector<std::string> kSummary =
      with(kHead, {{"Count", "Sum", "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value"}});
  switch (kind) {
    case TableKind::kLogs: return kLogs;
    case TableKind::kTraces: return kTraces;
    case TableKind::kTraceIdTs: return kTraceIdTs;
    case TableKind::kMetricsGauge: return kGauge;
    case TableKind::kMetricsSum: return kSum;
    case TableKind::kMetricsHistogram: return kHistogram;
    case TableKind::kMetricsExponentialHistogram: return kExp;
    case TableKind::kMetricsSummary: return kSummary;
  }
  return kLogs;
}

}  // namespace kobs::store::schema
