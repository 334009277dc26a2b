#include "store/schema/schema_options.h"

#include <charconv>

#include "common/error.h"

namespace kobs::store::schema {

const std::vector<TableKind>& allTableKinds() {
  static const std::vector<TableKind> kinds = {
      TableKind::kLogs,          TableKind::kTraces,           TableKind::kTraceIdTs,
      TableKind::kMetricsGauge,  TableKind::kMetricsSum,       TableKind::kMetricsHistogram,
      TableKind::kMetricsExponentialHistogram, TableKind::kMetricsSummary,
  };
  return kinds;
}

std::string_view tableKindName(TableKind kind) {
  switch (kind) {
    case TableKind::kLogs: return "logs";
    case TableKind::kTraces: return "traces";
    case TableKind::kTraceIdTs: return "trace_id_ts";
    case TableKind::kMetricsGauge: return "metrics_gauge";
    case TableKind::kMetricsSum: return "metrics_sum";
    case TableKind::kMetricsHistogram: return "metrics_histogram";
    case TableKind::kMetricsExponentialHistogram: return "metrics_exponential_histogram";
    case TableKind::kMetricsSummary: return "metrics_summary";
  }
  return "unknown";
}

std::string_view variantName(Variant v) { return v == Variant::kExporter ? "exporter" : "clickstack"; }

Variant parseVariant(std::string_view name) {
  if (name == "clickstack") return Variant::kClickStack;
  if (name == "exporter") return Variant::kExporter;
  throw Exception(ErrorCode::kBadConfig, "schema variant '{}' is not one of clickstack, exporter", name);
}

std::string_view textIndexName(TextIndex t) {
  switch (t) {
    case TextIndex::kAuto: return "auto";
    case TextIndex::kText: return "text";
    case TextIndex::kBloom: return "bloom";
  }
  return "auto";
}

TextIndex parseTextIndex(std::string_view name) {
  if (name == "auto") return TextIndex::kAuto;
  if (name == "text") return TextIndex::kText;
  if (name == "bloom") return TextIndex::kBloom;
  throw Exception(ErrorCode::kBadConfig, "schema text_index '{}' is not one of auto, text, bloom", name);
}

ServerInfo parseServerVersion(std::string_view version) {
  ServerInfo info;
  info.version = std::string(version);
  while (!info.version.empty() && (info.version.back() == '\n' || info.version.back() == '\r'))
    info.version.pop_back();
  const char* p = info.version.data();
  const char* end = p + info.version.size();
  auto r1 = std::from_chars(p, end, info.major);
  if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != '.')
    throw Exception(ErrorCode::kBadArguments, "cannot parse server version '{}'", info.version);
  auto r2 = std::from_chars(r1.ptr + 1, end, info.minor);
  if (r2.ec != std::errc())
    throw Exception(ErrorCode::kBadArguments, "cannot parse server version '{}'", info.version);
  return info;
}

std::string defaultTableName(Variant variant, TableKind kind) {
  switch (kind) {
    case TableKind::kLogs: return "otel_logs";
    case TableKind::kTraces: return "otel_traces";
    case TableKind::kTraceIdTs: return "otel_traces_trace_id_ts";
    case TableKind::kMetricsGauge: return "otel_metrics_gauge";
    case TableKind::kMetricsSum: return "otel_metrics_sum";
    case TableKind::kMetricsHistogram: return "otel_metrics_histogram";
    case TableKind::kMetricsExponentialHistogram:
      return variant == Variant::kExporter ? "otel_metrics_exp_histogram" : "otel_metrics_exponential_histogram";
    case TableKind::kMetricsSummary: return "otel_metrics_summary";
  }
  return {};
}

std::string tableName(const SchemaOptions& options, TableKind kind) {
  if (auto it = options.table_names.find(kind); it != options.table_names.end() && !it->second.empty())
    return it->second;
  // The lookup table follows a renamed traces table, as the exporter names it.
  if (kind == TableKind::kTraceIdTs) {
    if (auto it = options.table_names.find(TableKind::kTraces); it != options.table_names.end() && !it->second.empty())
      return it->second + "_trace_id_ts";
  }
  return defaultTableName(options.variant, kind);
}

std::string renderTtl(std::chrono::seconds ttl, std::string_view time_expr) {
  const int64_t s = ttl.count();
  if (s <= 0) return {};
  constexpr int64_t kDay = 86400, kHour = 3600, kMinute = 60;
  if (s % kDay == 0) return fmt::format("TTL {} + toIntervalDay({})", time_expr, s / kDay);
  if (s % kHour == 0) return fmt::format("TTL {} + toIntervalHour({})", time_expr, s / kHour);
  if (s % kMinute == 0) return fmt::format("TTL {} + toIntervalMinute({})", time_expr, s / kMinute);
  return fmt::format("TTL {} + toIntervalSecond({})", time_expr, s);
}

bool useTextIndexes(const SchemaOptions& options, const ServerInfo& server) {
  // The exporter's classic tables only ever had bloom filters.
  if (options.variant == Variant::kExporter) return false;
  switch (options.text_index) {
    case TextIndex::kText: return true;
    case TextIndex::kBloom: return false;
    case TextIndex::kAuto: return server.hasTextIndexes();
  }
  return false;
}

}  // namespace kobs::store::schema
