#include "collect/k8s_events/event_mapping.h"

#include <cctype>
#include <ctime>
#include <optional>

#include <fmt/format.h>
#include <simdjson.h>

#include "common/error.h"
#include "common/json_escape.h"
#include "common/rfc3339.h"

namespace kobs::collect::k8s_events {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

using OptObject = std::optional<simdjson::dom::object>;

std::string_view str(const simdjson::dom::object& o, const char* key) {
  std::string_view v;
  if (o[key].get(v) != simdjson::SUCCESS) return {};
  return v;
}
std::string_view str(const OptObject& o, const char* key) { return o ? str(*o, key) : std::string_view{}; }

OptObject obj(const simdjson::dom::object& o, const char* key) {
  simdjson::dom::object out;
  if (o[key].get(out) != simdjson::SUCCESS) return std::nullopt;
  return out;
}

int64_t timeOrZero(std::string_view text) { return rfc3339::parseNanos(text).value_or(0); }

}  // namespace

uint8_t severityNumberFor(std::string_view type) {
  if (iequals(type, "normal")) return 9;
  if (iequals(type, "warning")) return 13;
  if (iequals(type, "error")) return 17;
  if (iequals(type, "critical")) return 21;
  return 0;
}

int64_t parseRfc3339Nanos(std::string_view text) {
  auto ns = rfc3339::parseNanos(text);
  if (!ns) throw Exception(ErrorCode::kBadInput, "not an RFC 3339 time: '{}'", text);
  return *ns;
}

std::string goTimeString(std::string_view rfc3339) {
  auto p = rfc3339::parse(rfc3339);
  if (!p) return "0001-01-01 00:00:00 +0000 UTC";
  const auto t = static_cast<time_t>(p->seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (p->nanos != 0) {
    // Go's ".999999999": the fraction without trailing zeros.
    std::string frac = fmt::format("{:09}", p->nanos);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  out += " +0000 UTC";
  return out;
}

struct EventMapper::Parser {
  simdjson::dom::parser parser;
  std::string scratch;  // the object copied with simdjson's padding
};

EventMapper::EventMapper(MappingOptions options)
    : options_(std::move(options)), parser_(std::make_unique<Parser>()) {
  auto scope = std::make_shared<pipeline::Scope>();
  scope->name = "kobs/k8s_events";
  scope_ = std::move(scope);
}

EventMapper::~EventMapper() = default;

const ParsedEvent& EventMapper::parse(std::string_view json) {
  auto& buf = parser_->scratch;
  buf.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  buf.assign(json.data(), json.size());
  simdjson::dom::object root;
  if (parser_->parser.parse(buf.data(), buf.size(), false).get(root) != simdjson::SUCCESS)
    throw Exception(ErrorCode::kBadInput, "event object is not a JSON object ({} bytes)", json.size());

  ParsedEvent& e = event_;
  auto meta = obj(root, "metadata");
  e.name = str(meta, "name");
  e.ns = str(meta, "namespace");
  e.uid = str(meta, "uid");
  e.resource_version = str(meta, "resourceVersion");
  e.creation_timestamp = str(meta, "creationTimestamp");
  e.reason = str(root, "reason");
  e.action = str(root, "action");
  e.type = str(root, "type");

  auto involved = obj(root, "involvedObject");
  auto& io = e.involved;
  if (involved) {
    io.api_version = str(involved, "apiVersion");
    io.kind = str(involved, "kind");
    io.name = str(involved, "name");
    io.ns = str(involved, "namespace");
    io.uid = str(involved, "uid");
    io.resource_version = str(involved, "resourceVersion");
    io.field_path = str(involved, "fieldPath");
  } else {
    io = InvolvedObject{};
  }
  auto source = obj(root, "source");
  e.source_host = str(source, "host");
  int64_t count = 0;
  if (root["count"].get(count) != simdjson::SUCCESS) count = 0;
  auto series = obj(root, "series");
  if (count == 0 && series && (*series)["count"].get(count) != simdjson::SUCCESS) count = 0;
  e.count = count;

  int64_t t = timeOrZero(str(root, "eventTime"));
  if (t == 0) t = timeOrZero(str(root, "lastTimestamp"));
  if (t == 0 && series) t = timeOrZero(str(series, "lastObservedTime"));
  if (t == 0) t = timeOrZero(str(root, "firstTimestamp"));
  if (t == 0) t = timeOrZero(e.creation_timestamp);
  e.last_time_ns = t;
  return e;
}

pipeline::LogRecord EventMapper::toRecord(std::string_view type, std::string_view object_json,
                                          const ParsedEvent& e, int64_t observed_ns,
                                          std::string_view composition_id) const {
  // The object's bytes as sent, minus surrounding whitespace, so Body stays compact.
  while (!object_json.empty() && std::isspace(static_cast<unsigned char>(object_json.back())))
    object_json.remove_suffix(1);
  while (!object_json.empty() && std::isspace(static_cast<unsigned char>(object_json.front())))
    object_json.remove_prefix(1);

  pipeline::LogRecord r;
  auto resource = std::make_shared<pipeline::Resource>();
  auto& ra = resource->attributes;
  ra.reserve(16);
  if (!options_.service_name.empty()) ra.emplace_back("service.name", options_.service_name);
  if (!options_.cluster_name.empty()) ra.emplace_back("k8s.cluster.name", options_.cluster_name);
  ra.emplace_back("telemetry.source", "k8s-events");
  ra.emplace_back("k8s.namespace.name", e.ns.empty() ? e.involved.ns : e.ns);
  ra.emplace_back("k8s.object.kind", e.involved.kind);
  ra.emplace_back("k8s.object.name", e.involved.name);
  ra.emplace_back("k8s.object.uid", e.involved.uid);
  ra.emplace_back("k8s.object.api_version", e.involved.api_version);
  ra.emplace_back("k8s.object.resource_version", e.involved.resource_version);
  ra.emplace_back("k8s.object.fieldpath", e.involved.field_path);
  ra.emplace_back("k8s.event.reason", e.reason);
  if (!e.source_host.empty()) ra.emplace_back("k8s.node.name", e.source_host);
  if (e.involved.kind == "Pod") ra.emplace_back("k8s.pod.name", e.involved.name);
  if (!composition_id.empty()) ra.emplace_back("krateo.composition.id", std::string(composition_id));
  r.resource = std::move(resource);
  r.scope = scope_;

  r.time_unix_nano = observed_ns;
  r.observed_time_unix_nano = observed_ns;
  r.severity_text = e.type;
  r.severity_number = severityNumberFor(e.type);

  std::string body;
  body.reserve(object_json.size() + type.size() + 24);
  body += "{\"type\":";
  json::appendString(body, type);
  body += ",\"object\":";
  body.append(object_json);
  body += "}";
  r.body = std::move(body);

  auto& la = r.attributes;
  la.reserve(12);
  if (!composition_id.empty()) la.emplace_back("krateo.io/composition-id", std::string(composition_id));
  la.emplace_back("k8s.event.reason", e.reason);
  la.emplace_back("k8s.event.action", e.action);
  la.emplace_back("k8s.event.name", e.name);
  la.emplace_back("k8s.event.uid", e.uid);
  if (e.count != 0) la.emplace_back("k8s.event.count", e.count);
  la.emplace_back("k8s.event.start_time", goTimeString(e.creation_timestamp));
  la.emplace_back("k8s.resource.name", "events");
  la.emplace_back("event.domain", "k8s");
  la.emplace_back("event.name", e.name);
  return r;
}

pipeline::LogRecord EventMapper::map(std::string_view type, std::string_view object_json, int64_t observed_ns,
                                     std::string_view composition_id) {
  const auto& e = parse(object_json);
  return toRecord(type, object_json, e, observed_ns, composition_id);
}

}  // namespace kobs::collect::k8s_events
