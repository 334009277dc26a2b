// The wire reader (otlp_wire.h) against the generated parser: for a protobuf
// body the reader accepts, the generated path must accept it too and both
// must encode byte-identical rows. Used by the unit test and the fuzz target.
//
// The column layout holds every column the bindings know, each with the
// first type its writer accepts, so every field of both record shapes is
// written.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "collect/otlp/otlp_decode.h"
#include "collect/otlp/otlp_wire.h"
#include "common/error.h"
#include "pipeline/otel_encoders.h"

namespace kobs::collect::otlp::testing {

template <typename Record>
std::vector<pipeline::ColumnSpec> layoutFor(const std::vector<pipeline::ColumnBinding<Record>>& bindings) {
  static const char* kTypes[] = {"LowCardinality(String)", "UInt64", "DateTime64(9)", "Map(LowCardinality(String), String)",
                                 "Array(LowCardinality(String))", "Array(DateTime64(9))",
                                 "Array(Map(LowCardinality(String), String))"};
  std::vector<pipeline::ColumnSpec> out;
  for (const auto& b : bindings)
    for (const char* t : kTypes) {
      try {
        (void)b.make(t);
        out.push_back({b.name, t});
        break;
      } catch (const Exception&) {
      }
    }
  return out;
}

struct Encoders {
  std::vector<pipeline::ColumnSpec> log_layout = layoutFor(pipeline::logBindings());
  std::vector<pipeline::ColumnSpec> span_layout = layoutFor(pipeline::spanBindings());
  pipeline::LogEncoder log{"otel_logs", log_layout, pipeline::logBindings()};
  pipeline::LogRefEncoder log_ref{"otel_logs", log_layout, pipeline::logRefBindings()};
  pipeline::SpanEncoder span{"otel_traces", span_layout, pipeline::spanBindings()};
  pipeline::SpanRefEncoder span_ref{"otel_traces", span_layout, pipeline::spanRefBindings()};
};

// What the comparison found; `error` is empty when both paths agree.
struct Comparison {
  bool read = false;  // the wire reader took the body
  size_t records = 0;
  std::string error;
};

inline Comparison compareLogs(const Encoders& enc, std::string_view body) {
  Comparison c;
  LogRefs refs;
  c.read = readLogs(body, refs);
  if (!c.read) return c;
  DecodedLogs d;
  try {
    d = decodeLogs(body, Encoding::kProtobuf);
  } catch (const Exception& e) {
    c.error = std::string("the wire reader took a body the generated parser refuses: ") + e.what();
    return c;
  }
  c.records = refs.records.size();
  if (d.records.size() != refs.records.size()) {
    c.error = "record counts differ: " + std::to_string(d.records.size()) + " vs " + std::to_string(refs.records.size());
    return c;
  }
  std::string a, b;
  for (size_t i = 0; i < d.records.size(); ++i) {
    a.clear();
    b.clear();
    enc.log.encode(d.records[i], a);
    enc.log_ref.encode(refs.records[i], b);
    if (a != b) {
      c.error = "row " + std::to_string(i) + " differs";
      return c;
    }
  }
  return c;
}

inline Comparison compareSpans(const Encoders& enc, std::string_view body) {
  Comparison c;
  SpanRefs refs;
  c.read = readSpans(body, refs);
  if (!c.read) return c;
  DecodedSpans d;
  try {
    d = decodeSpans(body, Encoding::kProtobuf);
  } catch (const Exception& e) {
    c.error = std::string("the wire reader took a body the generated parser refuses: ") + e.what();
    return c;
  }
  c.records = refs.spans.size();
  if (d.spans.size() != refs.spans.size()) {
    c.error = "span counts differ: " + std::to_string(d.spans.size()) + " vs " + std::to_string(refs.spans.size());
    return c;
  }
  std::string a, b;
  for (size_t i = 0; i < d.spans.size(); ++i) {
    a.clear();
    b.clear();
    enc.span.encode(d.spans[i], a);
    enc.span_ref.encode(refs.spans[i], b);
    if (a != b) {
      c.error = "span " + std::to_string(i) + " differs";
      return c;
    }
  }
  return c;
}

}  // namespace kobs::collect::otlp::testing
