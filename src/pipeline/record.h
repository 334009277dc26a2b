// The record model: OpenTelemetry's data model, shaped for encoding into the
// OTel ClickHouse tables. Receivers (k8s events, pod logs, OTLP) build these;
// encoders (pipeline/encode_*) turn them into table rows.
//
// Resource and scope are shared by the records of one batch (shared_ptr to
// const), as in OTLP's ResourceLogs/ScopeLogs nesting.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace kobs::pipeline {

struct AnyValue;
using ArrayValue = std::vector<AnyValue>;
using KeyValueList = std::vector<std::pair<std::string, AnyValue>>;
struct Bytes { std::string data; };

// OTLP AnyValue. monostate is an empty value.
struct AnyValue {
  std::variant<std::monostate, std::string, bool, int64_t, double, Bytes, ArrayValue, KeyValueList> value;

  AnyValue() = default;
  AnyValue(std::string s) : value(std::move(s)) {}
  AnyValue(const char* s) : value(std::string(s)) {}
  AnyValue(bool b) : value(b) {}
  AnyValue(int64_t i) : value(i) {}
  AnyValue(int i) : value(int64_t{i}) {}
  AnyValue(double d) : value(d) {}
  AnyValue(Bytes b) : value(std::move(b)) {}
  AnyValue(ArrayValue a) : value(std::move(a)) {}
  AnyValue(KeyValueList kv) : value(std::move(kv)) {}
};

// Attributes keep insertion order; a later duplicate key wins when encoded.
using Attributes = std::vector<std::pair<std::string, AnyValue>>;

// The string a Map(String,String) column stores for a value: the OTel
// Collector's AsString rules (ints decimal, bools true/false, doubles in
// shortest round-trip form, bytes base64, arrays/maps as JSON, sorted keys).
std::string asString(const AnyValue& v);
void appendAsString(std::string& out, const AnyValue& v);

struct Resource {
  Attributes attributes;
  std::string schema_url;
};

struct Scope {
  std::string name;
  std::string version;
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
  std::string schema_url;
};

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

struct LogRecord {
  std::shared_ptr<const Resource> resource;
  std::shared_ptr<const Scope> scope;
  int64_t time_unix_nano = 0;           // 0 = unknown: the observed time is used
  int64_t observed_time_unix_nano = 0;
  uint8_t severity_number = 0;
  std::string severity_text;
  AnyValue body;
  Attributes attributes;
  TraceId trace_id{};
  SpanId span_id{};
  uint32_t flags = 0;
  std::string event_name;
};

struct SpanEvent {
  int64_t time_unix_nano = 0;
  std::string name;
  Attributes attributes;
};

struct SpanLink {
  TraceId trace_id{};
  SpanId span_id{};
  std::string trace_state;
  Attributes attributes;
};

enum class SpanKind : uint8_t { kUnspecified = 0, kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };
enum class StatusCode : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

struct Span {
  std::shared_ptr<const Resource> resource;
  std::shared_ptr<const Scope> scope;
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};
  std::string trace_state;
  std::string name;
  SpanKind kind = SpanKind::kUnspecified;
  int64_t start_time_unix_nano = 0;
  int64_t end_time_unix_nano = 0;
  Attributes attributes;
  std::vector<SpanEvent> events;
  std::vector<SpanLink> links;
  StatusCode status_code = StatusCode::kUnset;
  std::string status_message;
};

struct Exemplar {
  Attributes filtered_attributes;
  int64_t time_unix_nano = 0;
  double value = 0;
  SpanId span_id{};
  TraceId trace_id{};
};

enum class MetricType : uint8_t { kGauge, kSum, kHistogram, kExponentialHistogram, kSummary };

struct QuantileValue {
  double quantile = 0;
  double value = 0;
};

// One data point of one metric, flattened with its metric's identity: what
// one row of an otel_metrics_* table holds.
struct MetricPoint {
  std::shared_ptr<const Resource> resource;
  std::shared_ptr<const Scope> scope;
  MetricType type = MetricType::kGauge;
  std::string name;
  std::string description;
  std::string unit;
  Attributes attributes;
  int64_t start_time_unix_nano = 0;
  int64_t time_unix_nano = 0;
  uint32_t flags = 0;
  std::vector<Exemplar> exemplars;
  // gauge / sum
  double value = 0;
  int32_t aggregation_temporality = 0;
  bool is_monotonic = false;
  // histogram / exponential histogram / summary
  uint64_t count = 0;
  double sum = 0;
  double min = 0;
  double max = 0;
  std::vector<uint64_t> bucket_counts;
  std::vector<double> explicit_bounds;
  int32_t scale = 0;
  uint64_t zero_count = 0;
  int32_t positive_offset = 0;
  std::vector<uint64_t> positive_bucket_counts;
  int32_t negative_offset = 0;
  std::vector<uint64_t> negative_bucket_counts;
  std::vector<QuantileValue> quantiles;
};

// Hex of an id, or "" when all bytes are zero (the exporter's rule).
template <size_t N>
std::string idToHex(const std::array<uint8_t, N>& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  bool zero = true;
  for (uint8_t b : id) zero = zero && b == 0;
  if (zero) return {};
  std::string out(N * 2, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[id[i] >> 4];
    out[2 * i + 1] = kDigits[id[i] & 0xF];
  }
  return out;
}

}  // namespace kobs::pipeline
