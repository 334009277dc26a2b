// OTLP decoding: an Export*ServiceRequest body (protobuf or OTLP JSON) is
// parsed into arena-allocated protobuf messages and mapped straight into
// pipeline records, field for field as the OpenTelemetry ClickHouse exporter
// writes rows (see docs/schema.md and the reference §1): ids kept as bytes
// (the encoders write hex, "" when zero), AnyValue kept typed (the encoders
// stringify by the AsString rules), SpanKind/StatusCode as enums, one
// MetricPoint per data point with its metric's identity.
//
// Malformed input throws kobs::Exception(kBadInput) with what was wrong:
// undecodable bytes or JSON, an id of the wrong length, AnyValue nested
// deeper than kMaxAnyValueDepth. Well-formed records kobs cannot store (a
// metric without data, a metric type whose table is not there) are counted in
// `rejected` with a message, and the rest is kept (OTLP partial success).
//
// Threading: free functions without shared state; call from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/record.h"

namespace opentelemetry::proto::collector::logs::v1 { class ExportLogsServiceRequest; }
namespace opentelemetry::proto::collector::trace::v1 { class ExportTraceServiceRequest; }
namespace opentelemetry::proto::collector::metrics::v1 { class ExportMetricsServiceRequest; }

namespace kobs::collect::otlp {

enum class Signal : uint8_t { kTraces, kLogs, kMetrics };
enum class Encoding : uint8_t { kProtobuf, kJson };

std::string_view signalName(Signal s);  // "traces", "logs", "metrics"

// Nesting of AnyValue (arrays and kvlists) beyond this is malformed input:
// it bounds the recursion of decoding and of the encoders' stringification.
inline constexpr int kMaxAnyValueDepth = 32;

struct Rejections {
  uint64_t count = 0;
  std::string message;  // the first reason, for partial_success.error_message
  void add(uint64_t n, std::string_view why);
};

struct DecodedLogs {
  std::vector<pipeline::LogRecord> records;
  Rejections rejected;
};

struct DecodedSpans {
  std::vector<pipeline::Span> spans;
  Rejections rejected;
};

struct DecodedMetrics {
  // Indexed by pipeline::MetricType.
  std::array<std::vector<pipeline::MetricPoint>, 5> points;
  Rejections rejected;
  size_t total() const;
};

// Parse + map a request body. Throws kobs::Exception(kBadInput).
DecodedLogs decodeLogs(std::string_view body, Encoding encoding);
DecodedSpans decodeSpans(std::string_view body, Encoding encoding);
DecodedMetrics decodeMetrics(std::string_view body, Encoding encoding);

// Map an already-parsed request (the gRPC path). Throws kobs::Exception(kBadInput).
void mapLogs(const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& req, DecodedLogs& out);
void mapSpans(const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& req, DecodedSpans& out);
void mapMetrics(const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& req,
                DecodedMetrics& out);

// OTLP JSON -> the protobuf JSON mapping: traceId/spanId/parentSpanId members
// are hex in OTLP JSON and base64 in protobuf's; rewritten in place. Throws
// kBadInput on malformed JSON, too deep nesting or a bad hex id.
std::string otlpJsonToProtoJson(std::string_view json);

// The response bodies: Export*ServiceResponse (partial_success only when
// something was rejected) and google.rpc.Status, as protobuf or JSON.
std::string exportResponse(Signal signal, const Rejections& rejected, Encoding encoding);
std::string statusBody(int code, std::string_view message, Encoding encoding, int retry_after_seconds = 0);

}  // namespace kobs::collect::otlp
