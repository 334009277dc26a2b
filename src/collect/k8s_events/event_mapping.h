// EventMapper: one Kubernetes Event watch notification -> one otel_logs
// LogRecord, shaped exactly as contract §1 (the old k8sobjects receiver's
// watch rows plus the k8sevents receiver's attributes).
//
// Body keeps the object's bytes as the API server sent them, wrapped as
// {"type":"ADDED","object":<object>} (no re-serialisation through a model,
// so unknown fields and number formats survive).
//
// Events are core/v1 only. The API server serves the same Event objects
// under events.k8s.io/v1, and core/v1 carries every field they have
// (eventTime, series, action, related, reportingComponent/Instance), so a
// second shape would only give every reader of Body (the krateo_events
// view, both frontend APIs, the seed's SQL, HyperDX searches) a second set
// of paths. (kobs once had a k8s.events.api option for it; it was removed.)
//
// Threading: an EventMapper holds a simdjson parser and its scratch buffer,
// so one mapper per thread; the functions below are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pipeline/record.h"

namespace kobs::collect::k8s_events {

struct InvolvedObject {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string ns;
  std::string uid;
  std::string resource_version;
  std::string field_path;
};

// The fields of one Event kobs needs, copied out of the parser.
struct ParsedEvent {
  std::string name;
  std::string ns;
  std::string uid;
  std::string resource_version;
  std::string creation_timestamp;  // as written (RFC 3339)
  std::string reason;
  std::string action;
  std::string type;                // Normal / Warning / ...
  std::string source_host;
  int64_t count = 0;
  // eventTime, else lastTimestamp, else series.lastObservedTime, else
  // firstTimestamp, else creationTimestamp; 0 when none parses.
  int64_t last_time_ns = 0;
  InvolvedObject involved;
};

struct MappingOptions {
  std::string cluster_name;  // k8s.cluster.name resource attribute when set
  std::string service_name;  // service.name resource attribute when set
};

// Normal 9, Warning 13, Error 17, Critical 21 (case-insensitive), else 0.
uint8_t severityNumberFor(std::string_view type);

// RFC 3339 ("2024-01-01T10:00:00Z", fractions and offsets allowed) to ns
// since the epoch; nullopt-like 0 return is ambiguous, so this throws kBadInput.
int64_t parseRfc3339Nanos(std::string_view text);

// Go's time.Time.String() of an RFC 3339 time, in UTC:
// "2024-01-01 10:00:00 +0000 UTC" (fraction printed only when non-zero, as Go
// does). Empty or unparsable input gives Go's zero time.
std::string goTimeString(std::string_view rfc3339);

class EventMapper {
 public:
  explicit EventMapper(MappingOptions options = {});
  ~EventMapper();
  EventMapper(const EventMapper&) = delete;
  EventMapper& operator=(const EventMapper&) = delete;

  // Parses a core/v1 Event object. Throws
  // kobs::Exception(kBadInput) when it is not a JSON object. The result is
  // valid until the next parse().
  const ParsedEvent& parse(std::string_view object_json);

  // The row for notification `type` ("ADDED", ...) of `object_json`, whose
  // fields `event` holds; `composition_id` empty when not resolved.
  pipeline::LogRecord toRecord(std::string_view type, std::string_view object_json, const ParsedEvent& event,
                               int64_t observed_ns, std::string_view composition_id) const;

  // parse() + toRecord().
  pipeline::LogRecord map(std::string_view type, std::string_view object_json, int64_t observed_ns,
                          std::string_view composition_id = {});

  const MappingOptions& options() const { return options_; }

 private:
  struct Parser;
  MappingOptions options_;
  std::unique_ptr<Parser> parser_;
  ParsedEvent event_;
  std::shared_ptr<const pipeline::Scope> scope_;
};

}  // namespace kobs::collect::k8s_events
