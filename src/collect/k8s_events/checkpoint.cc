#include "collect/k8s_events/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace kobs::collect::k8s_events {

std::string checkpointToJson(const CheckpointState& state) {
  nlohmann::json j;
  j["version"] = CheckpointState::kVersion;
  j["resume"] = state.resume;
  j["committed_observed_ns"] = state.committed_observed_ns;
  auto& events = j["events"] = nlohmann::json::object();
  for (const auto& [uid, e] : state.events) events[uid] = {{"rvs", e.resource_versions}, {"t", e.last_time_ns}};
  return j.dump();
}

CheckpointState checkpointFromJson(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Exception(ErrorCode::kCorruptData, "checkpoint is not a JSON object");
  if (j.value("version", 0) != CheckpointState::kVersion)
    throw Exception(ErrorCode::kCorruptData, "checkpoint version {} unknown (expected {})", j.value("version", 0),
                    CheckpointState::kVersion);
  try {
    CheckpointState s;
    s.resume = j.at("resume").get<std::map<std::string, std::string>>();
    s.committed_observed_ns = j.at("committed_observed_ns").get<int64_t>();
    for (const auto& [uid, e] : j.at("events").items()) {
      StoredEvent se;
      se.resource_versions = e.at("rvs").get<std::vector<std::string>>();
      se.last_time_ns = e.at("t").get<int64_t>();
      s.events.emplace(uid, std::move(se));
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Exception(ErrorCode::kCorruptData, "checkpoint malformed: {}", e.what());
  }
}

std::optional<CheckpointState> loadCheckpoint(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return checkpointFromJson(ss.str());
  } catch (Exception& e) {
    e.addContext(fmt::format("reading {}", file.string()));
    throw;
  }
}

std::optional<int> compareResourceVersions(std::string_view a, std::string_view b) {
  auto numeric = [](std::string_view s) {
    if (s.empty() || s.size() > 19) return false;
    for (char c : s)
      if (c < '0' || c > '9') return false;
    return true;
  };
  if (!numeric(a) || !numeric(b)) return std::nullopt;
  // Same-length decimal strings compare like numbers (no leading zeros from etcd).
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace kobs::collect::k8s_events
