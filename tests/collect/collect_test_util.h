// Helpers shared by the collect tests: pipeline targets from the schema,
// JSONEachRow reading, polling waits, and realistic events for the fake API
// server (which stands in for a real kube-apiserver).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/pipeline.h"
#include "store/schema/schema_manager.h"
#include "store/store.h"
#include "support/fake_kube_apiserver.h"

namespace kobs::collect::test {

inline pipeline::PipelineTargets logsTarget(const store::schema::Schema& schema) {
  pipeline::PipelineTargets t;
  t.logs.table = schema.table(store::schema::TableKind::kLogs).table;
  for (const auto& c : schema.table(store::schema::TableKind::kLogs).insertableColumns())
    t.logs.columns.push_back({c.name, c.type});
  return t;
}

inline std::vector<nlohmann::json> rows(store::IStore& store, const std::string& sql) {
  auto r = store.query(sql, "JSONEachRow");
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  while (pos < r.data.size()) {
    auto nl = r.data.find('\n', pos);
    if (nl == std::string::npos) nl = r.data.size();
    if (nl > pos) out.push_back(nlohmann::json::parse(r.data.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  return out;
}

inline bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

inline std::string nowRfc3339(std::chrono::seconds ago = std::chrono::seconds(0)) {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() - ago);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A Pod event as kubelet writes it, timestamped now.
inline nlohmann::json podEvent(const std::string& ns, const std::string& name, const std::string& pod,
                               const std::string& pod_uid, const std::string& reason = "Pulled",
                               const std::string& type = "Normal", int count = 1) {
  testing::FakeEventSpec s;
  s.ns = ns;
  s.name = name;
  s.involved_name = pod;
  s.involved_uid = pod_uid;
  s.involved_field_path = "spec.containers{app}";
  s.reason = reason;
  s.type = type;
  s.message = reason + " for " + pod;
  s.source_component = "kubelet";
  s.source_host = "node-1";
  s.count = count;
  s.first_timestamp = s.last_timestamp = nowRfc3339();
  return testing::makeEvent(s);
}

}  // namespace kobs::collect::test
