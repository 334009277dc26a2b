// Borrowed records: the log and span records of record.h, with every string a
// view into a buffer the producer keeps alive until Batcher::add() returns
// (the batcher encodes during add(), so nothing outlives it). The OTLP
// receiver decodes a request body into these straight from the protobuf wire
// (collect/otlp/otlp_wire.h): no string is copied and nothing is freed per
// record. The encoders write the same rows for these as for the owning
// records (otel_encoders.h: one binding list, instantiated for both).
//
// Arrays and key-value lists inside an AnyValue are rare in attributes and
// bodies; they point to an owning AnyValue the producer keeps with the views.
// A resource's and a scope's attribute map are encoded once per request
// (RowBinary Map bytes), not once per row.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "pipeline/record.h"

namespace kobs::pipeline {

struct AnyValueRef {
  enum Kind : uint8_t { kEmpty, kString, kBool, kInt, kDouble, kBytes, kOwned };
  Kind kind = kEmpty;
  bool b = false;
  union {
    int64_t i = 0;
    double d;
    const AnyValue* owned;  // kOwned: an array or a key-value list
  };
  std::string_view s;  // kString, kBytes
};

struct AttributeRef {
  std::string_view key;
  AnyValueRef value;
};
using AttributesRef = std::span<const AttributeRef>;

// A Map(String, String) column's RowBinary bytes, encoded in advance.
struct EncodedMap {
  std::string_view rowbinary;
};

struct ResourceRef {
  AttributesRef attributes;
  EncodedMap encoded;            // attributes as a Map column's bytes
  std::string_view service_name;  // service.name (the last one), as the exporter's ServiceName
  std::string_view schema_url;
};

struct ScopeRef {
  std::string_view name;
  std::string_view version;
  AttributesRef attributes;
  EncodedMap encoded;
  uint32_t dropped_attributes_count = 0;
  std::string_view schema_url;
};

struct LogRecordRef {
  const ResourceRef* resource = nullptr;
  const ScopeRef* scope = nullptr;
  int64_t time_unix_nano = 0;
  int64_t observed_time_unix_nano = 0;
  uint8_t severity_number = 0;
  std::string_view severity_text;
  AnyValueRef body;
  AttributesRef attributes;
  TraceId trace_id{};
  SpanId span_id{};
  uint32_t flags = 0;
  std::string_view event_name;
};

struct SpanEventRef {
  int64_t time_unix_nano = 0;
  std::string_view name;
  AttributesRef attributes;
};

struct SpanLinkRef {
  TraceId trace_id{};
  SpanId span_id{};
  std::string_view trace_state;
  AttributesRef attributes;
};

struct SpanRef {
  const ResourceRef* resource = nullptr;
  const ScopeRef* scope = nullptr;
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};
  std::string_view trace_state;
  std::string_view name;
  SpanKind kind = SpanKind::kUnspecified;
  int64_t start_time_unix_nano = 0;
  int64_t end_time_unix_nano = 0;
  AttributesRef attributes;
  std::span<const SpanEventRef> events;
  std::span<const SpanLinkRef> links;
  StatusCode status_code = StatusCode::kUnset;
  std::string_view status_message;
};

// The AsString rules of record.h for a borrowed value.
void appendAsString(std::string& out, const AnyValueRef& v);
// The owning value (tests compare both paths with it).
AnyValue toAnyValue(const AnyValueRef& v);

}  // namespace kobs::pipeline
