// The log records both pipeline benches insert: Kubernetes event rows (a
// core/v1 Event as the body, what the krateo_events view extracts) or
// 300-byte log lines, with the attributes the receivers set.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipeline/record.h"

namespace kobs::pipeline::bench {

inline std::vector<LogRecord> makeRecords(size_t n, bool events = true) {
  auto resource = std::make_shared<Resource>();
  resource->attributes = {{"service.name", "krateo-core-provider"},
                          {"k8s.namespace.name", "krateo-system"},
                          {"k8s.pod.name", "core-provider-7d9c8b-x2x9k"},
                          {"k8s.node.name", "worker-1"},
                          {"telemetry.source", events ? "k8s-events" : "pod-logs"}};
  auto scope = std::make_shared<Scope>();
  scope->name = "kobs";
  std::vector<LogRecord> out(n);
  for (size_t i = 0; i < n; ++i) {
    auto& r = out[i];
    r.resource = resource;
    r.scope = scope;
    r.time_unix_nano = 1764000000000000000 + int64_t(i);
    r.severity_number = 9;
    r.severity_text = "Normal";
    // Event rows carry a core/v1 Event (what the krateo_events view extracts), the rest a 300-byte line.
    r.body = events ? fmt::format(R"({{"type":"ADDED","object":{{"kind":"Event","apiVersion":"v1","metadata":{{"name":"web-{}.17a2b3c4d5e6","namespace":"demo","uid":"9b1c2d3e-4f5a-6b7c-8d9e-{:012x}","resourceVersion":"{}"}},"involvedObject":{{"apiVersion":"v1","kind":"Pod","name":"web-{}","namespace":"demo","uid":"pod-uid"}},"reason":"Pulled","message":"Successfully pulled image nginx:1.25 in 1.2s","type":"Normal","source":{{"component":"kubelet","host":"node-1"}}}}}})",
                                  i % 100, i, 1000 + i, i % 100)
                    : std::string(300, char('a' + i % 26));
    r.attributes = {{"k8s.event.reason", "Scheduled"},     {"k8s.event.action", "Binding"},
                    {"k8s.event.name", "pod.17a2b3c4d5e6"}, {"k8s.event.uid", "9b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"},
                    {"krateo.io/composition-id", "comp-" + std::to_string(i % 50)}};
  }
  return out;
}

}  // namespace kobs::pipeline::bench
