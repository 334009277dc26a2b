#include "collect/otlp/otlp_decode.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include <cstring>
#include <mutex>

#include "common/error.h"
#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace kobs::collect::otlp {
namespace {

namespace pb = opentelemetry::proto;
using LogsReq = pb::collector::logs::v1::ExportLogsServiceRequest;
using TraceReq = pb::collector::trace::v1::ExportTraceServiceRequest;
using MetricsReq = pb::collector::metrics::v1::ExportMetricsServiceRequest;
using pipeline::MetricPoint;
using pipeline::MetricType;

// protobuf logs parse failures (invalid UTF-8) to stderr itself; the receiver
// reports them once, with context, through its own logger and counters.
void quietProtobufOnce() {
  static std::once_flag once;
  std::call_once(once, [] { google::protobuf::SetLogHandler(nullptr); });
}

// Each decoding thread parses into the same first arena block, request after
// request, so a typical request's messages cost no malloc/free at all; larger
// ones continue in heap blocks that the arena frees.
constexpr size_t kArenaFirstBlock = 2 * 1024 * 1024;

google::protobuf::ArenaOptions arenaOptions() {
  thread_local std::unique_ptr<char[]> first_block(new char[kArenaFirstBlock]);
  google::protobuf::ArenaOptions o;
  o.initial_block = first_block.get();
  o.initial_block_size = kArenaFirstBlock;
  o.start_block_size = 256 * 1024;
  o.max_block_size = 4 * 1024 * 1024;
  return o;
}

// Parses `body` into `msg` (arena-allocated by the caller).
template <typename Msg>
void parse(std::string_view body, Encoding encoding, Msg* msg) {
  quietProtobufOnce();
  if (encoding == Encoding::kProtobuf) {
    if (body.size() > size_t(INT32_MAX) || !msg->ParseFromArray(body.data(), int(body.size())))
      throw Exception(ErrorCode::kBadInput, "malformed protobuf {} ({} bytes)", Msg::descriptor()->name(),
                      body.size());
    return;
  }
  std::string proto_json = otlpJsonToProtoJson(body);
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(proto_json, msg, options);
  if (!status.ok())
    throw Exception(ErrorCode::kBadInput, "malformed OTLP JSON: {}", std::string(status.message()));
}

pipeline::AnyValue mapAny(const pb::common::v1::AnyValue& v, int depth);

pipeline::Attributes mapAttributes(const google::protobuf::RepeatedPtrField<pb::common::v1::KeyValue>& kvs,
                                   int depth = 0) {
  pipeline::Attributes out;
  out.reserve(kvs.size());
  for (const auto& kv : kvs) out.emplace_back(kv.key(), mapAny(kv.value(), depth));
  return out;
}

pipeline::AnyValue mapAny(const pb::common::v1::AnyValue& v, int depth) {
  using V = pb::common::v1::AnyValue;
  switch (v.value_case()) {
    case V::kStringValue: return pipeline::AnyValue(v.string_value());
    case V::kBoolValue: return pipeline::AnyValue(v.bool_value());
    case V::kIntValue: return pipeline::AnyValue(int64_t(v.int_value()));
    case V::kDoubleValue: return pipeline::AnyValue(v.double_value());
    case V::kBytesValue: return pipeline::AnyValue(pipeline::Bytes{v.bytes_value()});
    case V::kArrayValue: {
      if (depth >= kMaxAnyValueDepth)
        throw Exception(ErrorCode::kBadInput, "AnyValue nested deeper than {} levels", kMaxAnyValueDepth);
      pipeline::ArrayValue arr;
      arr.reserve(v.array_value().values_size());
      for (const auto& e : v.array_value().values()) arr.push_back(mapAny(e, depth + 1));
      return pipeline::AnyValue(std::move(arr));
    }
    case V::kKvlistValue: {
      if (depth >= kMaxAnyValueDepth)
        throw Exception(ErrorCode::kBadInput, "AnyValue nested deeper than {} levels", kMaxAnyValueDepth);
      return pipeline::AnyValue(pipeline::KeyValueList(mapAttributes(v.kvlist_value().values(), depth + 1)));
    }
    default: return {};
  }
}

// An id of N bytes, or all zero when absent; any other length is malformed
// (the collector refuses such requests as undecodable).
template <size_t N>
std::array<uint8_t, N> mapId(const std::string& bytes, std::string_view what) {
  std::array<uint8_t, N> id{};
  if (bytes.empty()) return id;
  if (bytes.size() != N)
    throw Exception(ErrorCode::kBadInput, "{} must be {} bytes, got {}", what, N, bytes.size());
  std::memcpy(id.data(), bytes.data(), N);
  return id;
}

std::shared_ptr<const pipeline::Resource> mapResource(const pb::resource::v1::Resource& r, const std::string& schema) {
  auto out = std::make_shared<pipeline::Resource>();
  out->attributes = mapAttributes(r.attributes());
  out->schema_url = schema;
  return out;
}

std::shared_ptr<const pipeline::Scope> mapScope(const pb::common::v1::InstrumentationScope& s,
                                                const std::string& schema) {
  auto out = std::make_shared<pipeline::Scope>();
  out->name = s.name();
  out->version = s.version();
  out->attributes = mapAttributes(s.attributes());
  out->dropped_attributes_count = s.dropped_attributes_count();
  out->schema_url = schema;
  return out;
}

void mapExemplars(const google::protobuf::RepeatedPtrField<pb::metrics::v1::Exemplar>& in,
                  std::vector<pipeline::Exemplar>& out) {
  out.reserve(in.size());
  for (const auto& e : in) {
    auto& x = out.emplace_back();
    x.filtered_attributes = mapAttributes(e.filtered_attributes());
    x.time_unix_nano = int64_t(e.time_unix_nano());
    x.value = e.value_case() == pb::metrics::v1::Exemplar::kAsInt ? double(e.as_int()) : e.as_double();
    x.span_id = mapId<8>(e.span_id(), "exemplar span_id");
    x.trace_id = mapId<16>(e.trace_id(), "exemplar trace_id");
  }
}

// Summary points carry no exemplars; the others do.
template <typename DataPoint>
void mapExemplarsIf(const DataPoint& dp, MetricPoint& p) {
  if constexpr (!std::is_same_v<DataPoint, pb::metrics::v1::SummaryDataPoint>) mapExemplars(dp.exemplars(), p.exemplars);
}

template <typename DataPoint>
MetricPoint pointBase(const pb::metrics::v1::Metric& m, MetricType type,
                      const std::shared_ptr<const pipeline::Resource>& resource,
                      const std::shared_ptr<const pipeline::Scope>& scope, const DataPoint& dp) {
  MetricPoint p;
  p.resource = resource;
  p.scope = scope;
  p.type = type;
  p.name = m.name();
  p.description = m.description();
  p.unit = m.unit();
  p.attributes = mapAttributes(dp.attributes());
  p.start_time_unix_nano = int64_t(dp.start_time_unix_nano());
  p.time_unix_nano = int64_t(dp.time_unix_nano());
  p.flags = dp.flags();
  mapExemplarsIf(dp, p);
  return p;
}

}  // namespace

std::string_view signalName(Signal s) {
  switch (s) {
    case Signal::kTraces: return "traces";
    case Signal::kLogs: return "logs";
    case Signal::kMetrics: return "metrics";
  }
  return "?";
}

void Rejections::add(uint64_t n, std::string_view why) {
  if (n == 0) return;
  count += n;
  if (message.empty()) message = why;
}

size_t DecodedMetrics::total() const {
  size_t n = 0;
  for (const auto& v : points) n += v.size();
  return n;
}

void mapLogs(const LogsReq& req, DecodedLogs& out) {
  size_t n = 0;
  for (const auto& rl : req.resource_logs())
    for (const auto& sl : rl.scope_logs()) n += sl.log_records_size();
  out.records.reserve(out.records.size() + n);
  for (const auto& rl : req.resource_logs()) {
    auto resource = mapResource(rl.resource(), rl.schema_url());
    for (const auto& sl : rl.scope_logs()) {
      auto scope = mapScope(sl.scope(), sl.schema_url());
      for (const auto& lr : sl.log_records()) {
        auto& r = out.records.emplace_back();
        r.resource = resource;
        r.scope = scope;
        r.time_unix_nano = int64_t(lr.time_unix_nano());
        r.observed_time_unix_nano = int64_t(lr.observed_time_unix_nano());
        r.severity_number = static_cast<uint8_t>(lr.severity_number());
        r.severity_text = lr.severity_text();
        r.body = mapAny(lr.body(), 0);
        r.attributes = mapAttributes(lr.attributes());
        r.trace_id = mapId<16>(lr.trace_id(), "log trace_id");
        r.span_id = mapId<8>(lr.span_id(), "log span_id");
        r.flags = lr.flags();
        r.event_name = lr.event_name();
      }
    }
  }
}

void mapSpans(const TraceReq& req, DecodedSpans& out) {
  size_t n = 0;
  for (const auto& rs : req.resource_spans())
    for (const auto& ss : rs.scope_spans()) n += ss.spans_size();
  out.spans.reserve(out.spans.size() + n);
  for (const auto& rs : req.resource_spans()) {
    auto resource = mapResource(rs.resource(), rs.schema_url());
    for (const auto& ss : rs.scope_spans()) {
      auto scope = mapScope(ss.scope(), ss.schema_url());
      for (const auto& s : ss.spans()) {
        auto& r = out.spans.emplace_back();
        r.resource = resource;
        r.scope = scope;
        r.trace_id = mapId<16>(s.trace_id(), "span trace_id");
        r.span_id = mapId<8>(s.span_id(), "span span_id");
        r.parent_span_id = mapId<8>(s.parent_span_id(), "span parent_span_id");
        r.trace_state = s.trace_state();
        r.name = s.name();
        r.kind = s.kind() >= 0 && s.kind() <= 5 ? static_cast<pipeline::SpanKind>(s.kind())
                                                 : pipeline::SpanKind::kUnspecified;
        r.start_time_unix_nano = int64_t(s.start_time_unix_nano());
        r.end_time_unix_nano = int64_t(s.end_time_unix_nano());
        r.attributes = mapAttributes(s.attributes());
        r.events.reserve(s.events_size());
        for (const auto& e : s.events()) {
          auto& ev = r.events.emplace_back();
          ev.time_unix_nano = int64_t(e.time_unix_nano());
          ev.name = e.name();
          ev.attributes = mapAttributes(e.attributes());
        }
        r.links.reserve(s.links_size());
        for (const auto& l : s.links()) {
          auto& lk = r.links.emplace_back();
          lk.trace_id = mapId<16>(l.trace_id(), "link trace_id");
          lk.span_id = mapId<8>(l.span_id(), "link span_id");
          lk.trace_state = l.trace_state();
          lk.attributes = mapAttributes(l.attributes());
        }
        const int code = s.status().code();
        r.status_code = code >= 0 && code <= 2 ? static_cast<pipeline::StatusCode>(code) : pipeline::StatusCode::kUnset;
        r.status_message = s.status().message();
      }
    }
  }
}

void mapMetrics(const MetricsReq& req, DecodedMetrics& out) {
  using Metric = pb::metrics::v1::Metric;
  for (const auto& rm : req.resource_metrics()) {
    auto resource = mapResource(rm.resource(), rm.schema_url());
    for (const auto& sm : rm.scope_metrics()) {
      auto scope = mapScope(sm.scope(), sm.schema_url());
      for (const auto& m : sm.metrics()) {
        switch (m.data_case()) {
          case Metric::kGauge: {
            auto& v = out.points[size_t(MetricType::kGauge)];
            for (const auto& dp : m.gauge().data_points()) {
              auto p = pointBase(m, MetricType::kGauge, resource, scope, dp);
              p.value = dp.value_case() == pb::metrics::v1::NumberDataPoint::kAsInt ? double(dp.as_int()) : dp.as_double();
              v.push_back(std::move(p));
            }
            break;
          }
          case Metric::kSum: {
            auto& v = out.points[size_t(MetricType::kSum)];
            for (const auto& dp : m.sum().data_points()) {
              auto p = pointBase(m, MetricType::kSum, resource, scope, dp);
              p.value = dp.value_case() == pb::metrics::v1::NumberDataPoint::kAsInt ? double(dp.as_int()) : dp.as_double();
              p.aggregation_temporality = m.sum().aggregation_temporality();
              p.is_monotonic = m.sum().is_monotonic();
              v.push_back(std::move(p));
            }
            break;
          }
          case Metric::kHistogram: {
            auto& v = out.points[size_t(MetricType::kHistogram)];
            for (const auto& dp : m.histogram().data_points()) {
              auto p = pointBase(m, MetricType::kHistogram, resource, scope, dp);
              p.count = dp.count();
              p.sum = dp.has_sum() ? dp.sum() : 0;
              p.bucket_counts.assign(dp.bucket_counts().begin(), dp.bucket_counts().end());
              p.explicit_bounds.assign(dp.explicit_bounds().begin(), dp.explicit_bounds().end());
              p.min = dp.has_min() ? dp.min() : 0;
              p.max = dp.has_max() ? dp.max() : 0;
              p.aggregation_temporality = m.histogram().aggregation_temporality();
              v.push_back(std::move(p));
            }
            break;
          }
          case Metric::kExponentialHistogram: {
            auto& v = out.points[size_t(MetricType::kExponentialHistogram)];
            for (const auto& dp : m.exponential_histogram().data_points()) {
              auto p = pointBase(m, MetricType::kExponentialHistogram, resource, scope, dp);
              p.count = dp.count();
              p.sum = dp.has_sum() ? dp.sum() : 0;
              p.scale = dp.scale();
              p.zero_count = dp.zero_count();
              p.positive_offset = dp.positive().offset();
              p.positive_bucket_counts.assign(dp.positive().bucket_counts().begin(), dp.positive().bucket_counts().end());
              p.negative_offset = dp.negative().offset();
              p.negative_bucket_counts.assign(dp.negative().bucket_counts().begin(), dp.negative().bucket_counts().end());
              p.min = dp.has_min() ? dp.min() : 0;
              p.max = dp.has_max() ? dp.max() : 0;
              p.aggregation_temporality = m.exponential_histogram().aggregation_temporality();
              v.push_back(std::move(p));
            }
            break;
          }
          case Metric::kSummary: {
            auto& v = out.points[size_t(MetricType::kSummary)];
            for (const auto& dp : m.summary().data_points()) {
              auto p = pointBase(m, MetricType::kSummary, resource, scope, dp);
              p.count = dp.count();
              p.sum = dp.sum();
              p.quantiles.reserve(dp.quantile_values_size());
              for (const auto& q : dp.quantile_values()) p.quantiles.push_back({q.quantile(), q.value()});
              v.push_back(std::move(p));
            }
            break;
          }
          default:
            out.rejected.add(1, fmt::format("metric \"{}\" has no data (no gauge, sum, histogram, exponential "
                                            "histogram or summary)",
                                            m.name()));
        }
      }
    }
  }
}

DecodedLogs decodeLogs(std::string_view body, Encoding encoding) {
  google::protobuf::Arena arena(arenaOptions());
  auto* req = google::protobuf::Arena::CreateMessage<LogsReq>(&arena);
  parse(body, encoding, req);
  DecodedLogs out;
  mapLogs(*req, out);
  return out;
}

DecodedSpans decodeSpans(std::string_view body, Encoding encoding) {
  google::protobuf::Arena arena(arenaOptions());
  auto* req = google::protobuf::Arena::CreateMessage<TraceReq>(&arena);
  parse(body, encoding, req);
  DecodedSpans out;
  mapSpans(*req, out);
  return out;
}

DecodedMetrics decodeMetrics(std::string_view body, Encoding encoding) {
  google::protobuf::Arena arena(arenaOptions());
  auto* req = google::protobuf::Arena::CreateMessage<MetricsReq>(&arena);
  parse(body, encoding, req);
  DecodedMetrics out;
  mapMetrics(*req, out);
  return out;
}

namespace {

std::string toBody(const google::protobuf::Message& msg, Encoding encoding) {
  std::string out;
  if (encoding == Encoding::kProtobuf) {
    msg.SerializeToString(&out);
    return out;
  }
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = false;  // lowerCamelCase, as OTLP JSON
  auto st = google::protobuf::util::MessageToJsonString(msg, &out, o);
  if (!st.ok()) throw Exception(ErrorCode::kInternal, "cannot write a JSON response: {}", std::string(st.message()));
  return out;
}

}  // namespace

std::string exportResponse(Signal signal, const Rejections& rejected, Encoding encoding) {
  const bool partial = rejected.count > 0 || !rejected.message.empty();
  switch (signal) {
    case Signal::kLogs: {
      pb::collector::logs::v1::ExportLogsServiceResponse r;
      if (partial) {
        r.mutable_partial_success()->set_rejected_log_records(int64_t(rejected.count));
        r.mutable_partial_success()->set_error_message(rejected.message);
      }
      return toBody(r, encoding);
    }
    case Signal::kTraces: {
      pb::collector::trace::v1::ExportTraceServiceResponse r;
      if (partial) {
        r.mutable_partial_success()->set_rejected_spans(int64_t(rejected.count));
        r.mutable_partial_success()->set_error_message(rejected.message);
      }
      return toBody(r, encoding);
    }
    case Signal::kMetrics: {
      pb::collector::metrics::v1::ExportMetricsServiceResponse r;
      if (partial) {
        r.mutable_partial_success()->set_rejected_data_points(int64_t(rejected.count));
        r.mutable_partial_success()->set_error_message(rejected.message);
      }
      return toBody(r, encoding);
    }
  }
  return {};
}

std::string statusBody(int code, std::string_view message, Encoding encoding, int retry_after_seconds) {
  google::rpc::Status st;
  st.set_code(code);
  st.set_message(std::string(message));
  if (retry_after_seconds > 0) {
    google::rpc::RetryInfo info;
    info.mutable_retry_delay()->set_seconds(retry_after_seconds);
    st.add_details()->PackFrom(info);
  }
  return toBody(st, encoding);
}

}  // namespace kobs::collect::otlp
