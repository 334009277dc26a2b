// Column bindings of the OpenTelemetry ClickHouse tables: for each table kind,
// which record field goes into which column (the ClickHouse exporter's field
// mapping; see docs/schema.md). Both ClickStack's and the exporter's variants
// are covered: a binding whose column the table lacks is skipped, unless
// required.
#pragma once

#include <memory>
#include <vector>

#include "pipeline/record.h"
#include "pipeline/record_ref.h"
#include "pipeline/table_encoder.h"

namespace kobs::pipeline {

using LogEncoder = TableEncoder<LogRecord>;
using SpanEncoder = TableEncoder<Span>;
using MetricEncoder = TableEncoder<MetricPoint>;
using LogRefEncoder = TableEncoder<LogRecordRef>;
using SpanRefEncoder = TableEncoder<SpanRef>;

const std::vector<ColumnBinding<LogRecord>>& logBindings();
const std::vector<ColumnBinding<Span>>& spanBindings();
// The same columns for borrowed records: the same names in the same order.
const std::vector<ColumnBinding<LogRecordRef>>& logRefBindings();
const std::vector<ColumnBinding<SpanRef>>& spanRefBindings();
// Bindings for the table of one metric type (the shared columns plus the type's own).
const std::vector<ColumnBinding<MetricPoint>>& metricBindings(MetricType type);

// service.name from a resource, or "" (the exporter's ServiceName rule).
std::string_view serviceName(const Resource* resource);

// "SPAN_KIND_SERVER", "STATUS_CODE_ERROR": the literals HyperDX queries.
std::string_view spanKindName(SpanKind kind);
std::string_view statusCodeName(StatusCode code);

}  // namespace kobs::pipeline
