#include "pipeline/otel_encoders.h"

namespace kobs::pipeline {
namespace {

const Attributes kNoAttributes;

const Attributes& resourceAttrs(const std::shared_ptr<const Resource>& r) { return r ? r->attributes : kNoAttributes; }
const Attributes& resourceAttrs(const Resource* r) { return r ? r->attributes : kNoAttributes; }
const Attributes& scopeAttrs(const Scope* s) { return s ? s->attributes : kNoAttributes; }
std::string_view scopeName(const Scope* s) { return s ? std::string_view(s->name) : ""; }
std::string_view scopeVersion(const Scope* s) { return s ? std::string_view(s->version) : ""; }
std::string_view scopeSchema(const Scope* s) { return s ? std::string_view(s->schema_url) : ""; }
std::string_view resourceSchema(const Resource* r) { return r ? std::string_view(r->schema_url) : ""; }
template <typename T>
const T* ptr(const std::shared_ptr<const T>& p) { return p.get(); }
template <typename T>
const T* ptr(const T* p) { return p; }
const Attributes& scopeAttrs(const std::shared_ptr<const Scope>& s) { return s ? s->attributes : kNoAttributes; }
std::string_view scopeName(const std::shared_ptr<const Scope>& s) { return s ? std::string_view(s->name) : ""; }
std::string_view scopeVersion(const std::shared_ptr<const Scope>& s) { return s ? std::string_view(s->version) : ""; }
std::string_view scopeSchema(const std::shared_ptr<const Scope>& s) { return s ? std::string_view(s->schema_url) : ""; }
std::string_view resourceSchema(const std::shared_ptr<const Resource>& r) {
  return r ? std::string_view(r->schema_url) : "";
}

// The same for borrowed records (record_ref.h): maps come encoded in advance.
constexpr std::string_view kEmptyMap("\0", 1);
EncodedMap resourceAttrs(const ResourceRef* r) { return {r ? r->encoded.rowbinary : kEmptyMap}; }
EncodedMap scopeAttrs(const ScopeRef* s) { return {s ? s->encoded.rowbinary : kEmptyMap}; }
std::string_view scopeName(const ScopeRef* s) { return s ? s->name : ""; }
std::string_view scopeVersion(const ScopeRef* s) { return s ? s->version : ""; }
std::string_view scopeSchema(const ScopeRef* s) { return s ? s->schema_url : ""; }
std::string_view resourceSchema(const ResourceRef* r) { return r ? r->schema_url : ""; }

std::string_view rowServiceName(const LogRecord& r) { return serviceName(r.resource.get()); }
std::string_view rowServiceName(const Span& r) { return serviceName(r.resource.get()); }
std::string_view rowServiceName(const LogRecordRef& r) { return r.resource ? r.resource->service_name : ""; }
std::string_view rowServiceName(const SpanRef& r) { return r.resource ? r.resource->service_name : ""; }

// Most bodies are strings: written without an intermediate copy.
void writeBody(RowBinaryWriter& w, const AnyValue& body) {
  if (const auto* s = std::get_if<std::string>(&body.value)) w.string(*s);
  else w.string(asString(body));
}
void writeBody(RowBinaryWriter& w, const AnyValueRef& body) {
  if (body.kind == AnyValueRef::kString) return w.string(body.s);
  std::string tmp;
  appendAsString(tmp, body);
  w.string(tmp);
}

// Writes an id as the hex string column the exporter uses ("" when all zero).
template <typename Record, size_t N, typename Getter>
ColumnBinding<Record> idColumn(std::string name, Getter get, bool required = false) {
  return stringColumn<Record>(std::move(name), [get](const Record& r) { return idToHex<N>(get(r)); }, required);
}

// Array(T) of a vector; T given by the column's element type.
template <typename Record, typename Getter>
ColumnBinding<Record> uintArrayColumn(std::string name, Getter get) {
  return {std::move(name), false, [get](std::string_view type) -> ColumnWriter<Record> {
            if (type != "Array(UInt64)") throwUnsupportedType(type, "Array(UInt64)");
            return [get](const Record& r, RowBinaryWriter& w) {
              const auto& v = get(r);
              w.varUInt(v.size());
              for (uint64_t x : v) w.fixed<uint64_t>(x);
            };
          }};
}

template <typename Record, typename Getter>
ColumnBinding<Record> floatArrayColumn(std::string name, Getter get) {
  return {std::move(name), false, [get](std::string_view type) -> ColumnWriter<Record> {
            if (type != "Array(Float64)") throwUnsupportedType(type, "Array(Float64)");
            return [get](const Record& r, RowBinaryWriter& w) {
              const auto& v = get(r);
              w.varUInt(v.size());
              for (double x : v) w.fixed<double>(x);
            };
          }};
}

// One Nested sub-column: an Array of one field of each element.
template <typename Record, typename Elems, typename Field>
ColumnBinding<Record> nestedColumn(std::string name, Elems elems, Field field, std::string_view inner_expected) {
  return {std::move(name), false,
          [elems, field, inner_expected = std::string(inner_expected)](std::string_view type) -> ColumnWriter<Record> {
            if (!type.starts_with("Array(") || !type.ends_with(")")) throwUnsupportedType(type, "Array(...)");
            std::string inner(type.substr(6, type.size() - 7));
            auto write_elem = field(inner);  // returns void(const Elem&, RowBinaryWriter&)
            return [elems, write_elem](const Record& r, RowBinaryWriter& w) {
              const auto& v = elems(r);
              w.varUInt(v.size());
              for (const auto& e : v) write_elem(e, w);
            };
          }};
}

template <typename Elem, typename Getter>
auto nestedString(Getter get) {
  return [get](const std::string& inner) -> std::function<void(const Elem&, RowBinaryWriter&)> {
    if (unwrapLowCardinality(inner) != "String") throwUnsupportedType(inner, "String");
    return [get](const Elem& e, RowBinaryWriter& w) { w.string(get(e)); };
  };
}
template <typename Elem, typename Getter>
auto nestedTime(Getter get) {
  return [get](const std::string& inner) -> std::function<void(const Elem&, RowBinaryWriter&)> {
    TimeType t = parseTimeType(inner);
    if (t.kind == TimeType::kUnsupported) throwUnsupportedType(inner, "DateTime64(9)");
    return [get, t](const Elem& e, RowBinaryWriter& w) { writeTime(w, t, get(e)); };
  };
}
template <typename Elem, typename Getter>
auto nestedMap(Getter get) {
  return [get](const std::string& inner) -> std::function<void(const Elem&, RowBinaryWriter&)> {
    if (!inner.starts_with("Map(")) throwUnsupportedType(inner, "Map(LowCardinality(String), String)");
    return [get](const Elem& e, RowBinaryWriter& w) { writeAttributeMap(w, get(e)); };
  };
}
template <typename Elem, typename Getter>
auto nestedFloat(Getter get) {
  return [get](const std::string& inner) -> std::function<void(const Elem&, RowBinaryWriter&)> {
    if (inner != "Float64") throwUnsupportedType(inner, "Float64");
    return [get](const Elem& e, RowBinaryWriter& w) { w.fixed<double>(get(e)); };
  };
}

}  // namespace

std::string_view serviceName(const Resource* resource) {
  if (!resource) return "";
  for (const auto& [k, v] : resource->attributes)
    if (k == "service.name")
      if (const auto* s = std::get_if<std::string>(&v.value)) return *s;
  return "";
}

std::string_view spanKindName(SpanKind kind) {
  switch (kind) {
    case SpanKind::kInternal: return "SPAN_KIND_INTERNAL";
    case SpanKind::kServer: return "SPAN_KIND_SERVER";
    case SpanKind::kClient: return "SPAN_KIND_CLIENT";
    case SpanKind::kProducer: return "SPAN_KIND_PRODUCER";
    case SpanKind::kConsumer: return "SPAN_KIND_CONSUMER";
    default: return "SPAN_KIND_UNSPECIFIED";
  }
}

std::string_view statusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "STATUS_CODE_OK";
    case StatusCode::kError: return "STATUS_CODE_ERROR";
    default: return "STATUS_CODE_UNSET";
  }
}

namespace {

// One binding list per table kind, instantiated for the owning records and
// the borrowed ones (record_ref.h), so both write the same rows.
template <typename R>
std::vector<ColumnBinding<R>> buildLogBindings() {
  return {
      timeColumn<R>("Timestamp", [](const R& r) { return r.time_unix_nano ? r.time_unix_nano : r.observed_time_unix_nano; }, true),
      idColumn<R, 16>("TraceId", [](const R& r) { return r.trace_id; }, true),
      idColumn<R, 8>("SpanId", [](const R& r) { return r.span_id; }, true),
      intColumn<R>("TraceFlags", [](const R& r) { return static_cast<uint8_t>(r.flags); }, true),
      stringColumn<R>("SeverityText", [](const R& r) -> std::string_view { return r.severity_text; }, true),
      intColumn<R>("SeverityNumber", [](const R& r) { return r.severity_number; }, true),
      stringColumn<R>("ServiceName", [](const R& r) { return rowServiceName(r); }, true),
      {"Body", true,
       [](std::string_view type) -> ColumnWriter<R> {
         if (unwrapLowCardinality(type) != "String") throwUnsupportedType(type, "String");
         return [](const R& r, RowBinaryWriter& w) { writeBody(w, r.body); };
       }},
      stringColumn<R>("ResourceSchemaUrl", [](const R& r) { return resourceSchema(ptr(r.resource)); }),
      mapColumn<R>("ResourceAttributes", [](const R& r) -> decltype(auto) { return resourceAttrs(ptr(r.resource)); }, true),
      stringColumn<R>("ScopeSchemaUrl", [](const R& r) { return scopeSchema(ptr(r.scope)); }),
      stringColumn<R>("ScopeName", [](const R& r) { return scopeName(ptr(r.scope)); }, true),
      stringColumn<R>("ScopeVersion", [](const R& r) { return scopeVersion(ptr(r.scope)); }),
      mapColumn<R>("ScopeAttributes", [](const R& r) -> decltype(auto) { return scopeAttrs(ptr(r.scope)); }),
      mapColumn<R>("LogAttributes", [](const R& r) -> const auto& { return r.attributes; }, true),
      stringColumn<R>("EventName", [](const R& r) -> std::string_view { return r.event_name; }),
  };
}

template <typename R, typename SpanEvent, typename SpanLink>
std::vector<ColumnBinding<R>> buildSpanBindings() {
  return {
      timeColumn<R>("Timestamp", [](const R& r) { return r.start_time_unix_nano; }, true),
      idColumn<R, 16>("TraceId", [](const R& r) { return r.trace_id; }, true),
      idColumn<R, 8>("SpanId", [](const R& r) { return r.span_id; }, true),
      idColumn<R, 8>("ParentSpanId", [](const R& r) { return r.parent_span_id; }, true),
      stringColumn<R>("TraceState", [](const R& r) -> std::string_view { return r.trace_state; }),
      stringColumn<R>("SpanName", [](const R& r) -> std::string_view { return r.name; }, true),
      stringColumn<R>("SpanKind", [](const R& r) { return spanKindName(r.kind); }, true),
      stringColumn<R>("ServiceName", [](const R& r) { return rowServiceName(r); }, true),
      mapColumn<R>("ResourceAttributes", [](const R& r) -> decltype(auto) { return resourceAttrs(ptr(r.resource)); }, true),
      stringColumn<R>("ScopeName", [](const R& r) { return scopeName(ptr(r.scope)); }),
      stringColumn<R>("ScopeVersion", [](const R& r) { return scopeVersion(ptr(r.scope)); }),
      mapColumn<R>("SpanAttributes", [](const R& r) -> const auto& { return r.attributes; }, true),
      intColumn<R>("Duration",
                   [](const R& r) -> uint64_t {
                     // Times come from fixed64 fields: a hostile span can put them far apart, so subtract
                     // as unsigned (exact whenever end > start) rather than overflow int64.
                     if (r.end_time_unix_nano <= r.start_time_unix_nano) return 0;
                     return static_cast<uint64_t>(r.end_time_unix_nano) - static_cast<uint64_t>(r.start_time_unix_nano);
                   },
                   true),
      stringColumn<R>("StatusCode", [](const R& r) { return statusCodeName(r.status_code); }, true),
      stringColumn<R>("StatusMessage", [](const R& r) -> std::string_view { return r.status_message; }),
      nestedColumn<R>("Events.Timestamp", [](const R& r) -> const auto& { return r.events; },
                      nestedTime<SpanEvent>([](const SpanEvent& e) { return e.time_unix_nano; }), "DateTime64(9)"),
      nestedColumn<R>("Events.Name", [](const R& r) -> const auto& { return r.events; },
                      nestedString<SpanEvent>([](const SpanEvent& e) -> std::string_view { return e.name; }), "String"),
      nestedColumn<R>("Events.Attributes", [](const R& r) -> const auto& { return r.events; },
                      nestedMap<SpanEvent>([](const SpanEvent& e) -> const auto& { return e.attributes; }), "Map"),
      nestedColumn<R>("Links.TraceId", [](const R& r) -> const auto& { return r.links; },
                      nestedString<SpanLink>([](const SpanLink& l) { return idToHex<16>(l.trace_id); }), "String"),
      nestedColumn<R>("Links.SpanId", [](const R& r) -> const auto& { return r.links; },
                      nestedString<SpanLink>([](const SpanLink& l) { return idToHex<8>(l.span_id); }), "String"),
      nestedColumn<R>("Links.TraceState", [](const R& r) -> const auto& { return r.links; },
                      nestedString<SpanLink>([](const SpanLink& l) -> std::string_view { return l.trace_state; }), "String"),
      nestedColumn<R>("Links.Attributes", [](const R& r) -> const auto& { return r.links; },
                      nestedMap<SpanLink>([](const SpanLink& l) -> const auto& { return l.attributes; }), "Map"),
  };
}

}  // namespace

const std::vector<ColumnBinding<LogRecord>>& logBindings() {
  static const auto kBindings = buildLogBindings<LogRecord>();
  return kBindings;
}
const std::vector<ColumnBinding<LogRecordRef>>& logRefBindings() {
  static const auto kBindings = buildLogBindings<LogRecordRef>();
  return kBindings;
}
const std::vector<ColumnBinding<Span>>& spanBindings() {
  static const auto kBindings = buildSpanBindings<Span, SpanEvent, SpanLink>();
  return kBindings;
}
const std::vector<ColumnBinding<SpanRef>>& spanRefBindings() {
  static const auto kBindings = buildSpanBindings<SpanRef, SpanEventRef, SpanLinkRef>();
  return kBindings;
}


namespace {
using M = MetricPoint;

// Exemplar ids are always written as hex, all-zero ones included (the
// exporter hex-encodes them without the "" rule of span and log ids).
template <size_t N>
std::string fullHex(const std::array<uint8_t, N>& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(N * 2, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[id[i] >> 4];
    out[2 * i + 1] = kDigits[id[i] & 0xF];
  }
  return out;
}

// A column written from the resource and scope alone (cached per run of them, table_encoder.h).
ColumnBinding<M> perResource(ColumnBinding<M> b) {
  b.per_resource = true;
  return b;
}

std::vector<ColumnBinding<M>> sharedMetricBindings() {
  return {
      perResource(mapColumn<M>("ResourceAttributes", [](const M& r) -> const Attributes& { return resourceAttrs(r.resource); }, true)),
      perResource(stringColumn<M>("ResourceSchemaUrl", [](const M& r) { return resourceSchema(r.resource); })),
      perResource(stringColumn<M>("ScopeName", [](const M& r) { return scopeName(r.scope); })),
      perResource(stringColumn<M>("ScopeVersion", [](const M& r) { return scopeVersion(r.scope); })),
      perResource(mapColumn<M>("ScopeAttributes", [](const M& r) -> const Attributes& { return scopeAttrs(r.scope); })),
      perResource(intColumn<M>("ScopeDroppedAttrCount", [](const M& r) { return r.scope ? r.scope->dropped_attributes_count : 0u; })),
      perResource(stringColumn<M>("ScopeSchemaUrl", [](const M& r) { return scopeSchema(r.scope); })),
      perResource(stringColumn<M>("ServiceName", [](const M& r) { return serviceName(r.resource.get()); }, true)),
      stringColumn<M>("MetricName", [](const M& r) -> std::string_view { return r.name; }, true),
      stringColumn<M>("MetricDescription", [](const M& r) -> std::string_view { return r.description; }),
      stringColumn<M>("MetricUnit", [](const M& r) -> std::string_view { return r.unit; }),
      mapColumn<M>("Attributes", [](const M& r) -> const Attributes& { return r.attributes; }, true),
      timeColumn<M>("StartTimeUnix", [](const M& r) { return r.start_time_unix_nano; }),
      timeColumn<M>("TimeUnix", [](const M& r) { return r.time_unix_nano; }, true),
      intColumn<M>("Flags", [](const M& r) { return r.flags; }),
      nestedColumn<M>("Exemplars.FilteredAttributes", [](const M& r) -> const auto& { return r.exemplars; },
                      nestedMap<Exemplar>([](const Exemplar& e) -> const Attributes& { return e.filtered_attributes; }), "Map"),
      nestedColumn<M>("Exemplars.TimeUnix", [](const M& r) -> const auto& { return r.exemplars; },
                      nestedTime<Exemplar>([](const Exemplar& e) { return e.time_unix_nano; }), "DateTime64(9)"),
      nestedColumn<M>("Exemplars.Value", [](const M& r) -> const auto& { return r.exemplars; },
                      nestedFloat<Exemplar>([](const Exemplar& e) { return e.value; }), "Float64"),
      nestedColumn<M>("Exemplars.SpanId", [](const M& r) -> const auto& { return r.exemplars; },
                      nestedString<Exemplar>([](const Exemplar& e) { return fullHex(e.span_id); }), "String"),
      nestedColumn<M>("Exemplars.TraceId", [](const M& r) -> const auto& { return r.exemplars; },
                      nestedString<Exemplar>([](const Exemplar& e) { return fullHex(e.trace_id); }), "String"),
  };
}

std::vector<ColumnBinding<M>> buildMetricBindings(MetricType type) {
  auto b = sharedMetricBindings();
  auto add = [&](ColumnBinding<M> c) { b.push_back(std::move(c)); };
  auto temporality = [] { return intColumn<M>("AggregationTemporality", [](const M& r) { return r.aggregation_temporality; }); };
  auto count = [] { return intColumn<M>("Count", [](const M& r) { return r.count; }, true); };
  auto sum = [] { return floatColumn<M>("Sum", [](const M& r) { return r.sum; }, true); };
  auto min = [] { return floatColumn<M>("Min", [](const M& r) { return r.min; }); };
  auto max = [] { return floatColumn<M>("Max", [](const M& r) { return r.max; }); };
  switch (type) {
    case MetricType::kGauge:
      add(floatColumn<M>("Value", [](const M& r) { return r.value; }, true));
      break;
    case MetricType::kSum:
      add(floatColumn<M>("Value", [](const M& r) { return r.value; }, true));
      add(temporality());
      add(intColumn<M>("IsMonotonic", [](const M& r) { return r.is_monotonic ? 1 : 0; }));
      break;
    case MetricType::kHistogram:
      add(count());
      add(sum());
      add(uintArrayColumn<M>("BucketCounts", [](const M& r) -> const auto& { return r.bucket_counts; }));
      add(floatArrayColumn<M>("ExplicitBounds", [](const M& r) -> const auto& { return r.explicit_bounds; }));
      add(min());
      add(max());
      add(temporality());
      break;
    case MetricType::kExponentialHistogram:
      add(count());
      add(sum());
      add(intColumn<M>("Scale", [](const M& r) { return r.scale; }));
      add(intColumn<M>("ZeroCount", [](const M& r) { return r.zero_count; }));
      add(intColumn<M>("PositiveOffset", [](const M& r) { return r.positive_offset; }));
      add(uintArrayColumn<M>("PositiveBucketCounts", [](const M& r) -> const auto& { return r.positive_bucket_counts; }));
      add(intColumn<M>("NegativeOffset", [](const M& r) { return r.negative_offset; }));
      add(uintArrayColumn<M>("NegativeBucketCounts", [](const M& r) -> const auto& { return r.negative_bucket_counts; }));
      add(min());
      add(max());
      add(temporality());
      break;
    case MetricType::kSummary:
      add(count());
      add(sum());
      add(nestedColumn<M>("ValueAtQuantiles.Quantile", [](const M& r) -> const auto& { return r.quantiles; },
                          nestedFloat<QuantileValue>([](const QuantileValue& q) { return q.quantile; }), "Float64"));
      add(nestedColumn<M>("ValueAtQuantiles.Value", [](const M& r) -> const auto& { return r.quantiles; },
                          nestedFloat<QuantileValue>([](const QuantileValue& q) { return q.value; }), "Float64"));
      break;
  }
  return b;
}
}  // namespace

const std::vector<ColumnBinding<MetricPoint>>& metricBindings(MetricType type) {
  static const std::vector<ColumnBinding<M>> kGauge = buildMetricBindings(MetricType::kGauge);
  static const std::vector<ColumnBinding<M>> kSum = buildMetricBindings(MetricType::kSum);
  static const std::vector<ColumnBinding<M>> kHistogram = buildMetricBindings(MetricType::kHistogram);
  static const std::vector<ColumnBinding<M>> kExp = buildMetricBindings(MetricType::kExponentialHistogram);
  static const std::vector<ColumnBinding<M>> kSummary = buildMetricBindings(MetricType::kSummary);
  switch (type) {
    case MetricType::kGauge: return kGauge;
    case MetricType::kSum: return kSum;
    case MetricType::kHistogram: return kHistogram;
    case MetricType::kExponentialHistogram: return kExp;
    case MetricType::kSummary: return kSummary;
  }
  return kGauge;
}

}  // namespace kobs::pipeline
