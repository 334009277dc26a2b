#include "serve/events/local_event.h"

#include <ctime>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "common/siphash.h"

namespace kobs::serve::events {
namespace {

// The encoder writes a map's last value for a repeated key.
const pipeline::AnyValue* attribute(const pipeline::Attributes& attrs, std::string_view key) {
  const pipeline::AnyValue* found = nullptr;
  for (const auto& [k, v] : attrs)
    if (k == key) found = &v;
  return found;
}

std::string attributeString(const pipeline::Attributes& attrs, std::string_view key) {
  const auto* v = attribute(attrs, key);
  return v ? pipeline::asString(*v) : std::string();
}

// JSONExtractString(Body, 'object', path...): '' for a missing path or null.
template <typename... Keys>
std::string extractString(simdjson::dom::element object, Keys... keys) {
  simdjson::dom::element e = object;
  for (std::string_view key : {std::string_view(keys)...}) {
    simdjson::dom::object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) return {};
    if (o.at_key(key).get(e) != simdjson::SUCCESS) return {};
  }
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  if (e.is_null()) return {};
  return simdjson::minify(e);  // a number, bool, array or object: its JSON, as ClickHouse gives it
}

// formatDateTime(toDateTime(Timestamp), '%Y-%m-%dT%H:%i:%SZ', 'UTC').
std::string wholeSecondsUtc(int64_t ns) {
  int64_t secs = ns / 1000000000LL;
  if (ns % 1000000000LL < 0) --secs;
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

}  // namespace

std::shared_ptr<const LocalEvent> localEventFromLog(const pipeline::LogRecord& r) {
  static const pipeline::Attributes kNone;
  const auto& resource = r.resource ? r.resource->attributes : kNone;
  const auto* source = attribute(resource, "telemetry.source");
  if (!source || pipeline::asString(*source) != "k8s-events") return nullptr;

  const std::string* body_ptr = std::get_if<std::string>(&r.body.value);
  std::string body_copy;
  if (!body_ptr) {
    body_copy = pipeline::asString(r.body);
    body_ptr = &body_copy;
  }
  const std::string& body = *body_ptr;

  // One parser per thread: producers call this under their batcher's lock.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return nullptr;
  simdjson::dom::object root_obj;
  if (root.get_object().get(root_obj) != simdjson::SUCCESS) return nullptr;
  simdjson::dom::element object;
  if (root_obj.at_key("object").get(object) != simdjson::SUCCESS) return nullptr;

  auto out = std::make_shared<LocalEvent>();
  StoredEvent& e = out->row;
  e.reason = extractString(object, "reason");
  if (e.reason.empty()) return nullptr;
  const int64_t ts = r.time_unix_nano ? r.time_unix_nano : r.observed_time_unix_nano;
  e.cursor.ts_ns = ts;
  e.cursor.key = sipHash64Combine(sipHash64Int(ts), sipHash64(body));
  e.composition_id = attributeString(r.attributes, "krateo.io/composition-id");
  e.obj_apiversion = extractString(object, "involvedObject", "apiVersion");
  e.obj_kind = extractString(object, "involvedObject", "kind");
  e.obj_name = extractString(object, "involvedObject", "name");
  e.obj_namespace = extractString(object, "involvedObject", "namespace");
  e.obj_uid = extractString(object, "involvedObject", "uid");
  e.message = extractString(object, "message");
  e.type = extractString(object, "type");
  e.source_component = extractString(object, "source", "component");
  e.event_time = extractString(object, "eventTime");
  if (e.event_time.empty()) e.event_time = extractString(object, "lastTimestamp");
  if (e.event_time.empty()) e.event_time = wholeSecondsUtc(ts);
  out->event_uid = extractString(object, "metadata", "uid");
  out->cluster_name = attributeString(resource, "k8s.cluster.name");
  out->raw = simdjson::minify(object);
  return out;
}

}  // namespace kobs::serve::events
