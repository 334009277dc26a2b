// The events receiver's checkpoint: what it needs to resume a watch without
// losing or repeating a notification.
//
//   resume   per watch (namespace, or "*" for all): the resourceVersion up to
//            which every notification is in the store (or was skipped on
//            purpose); the watch resumes after it.
//   events   per Event uid still live: the resourceVersions of that event
//            known to be in the store, and the event's last time (for
//            pruning at max age). A relist or a re-sent notification whose
//            (uid, resourceVersion) is listed here is a duplicate.
//   committed_observed_ns  the observed time (the Timestamp column) of the
//            newest notification applied; rows after it may be in the store
//            without being listed here (see events_receiver.h).
//
// On disk: <dir>/checkpoint.json, versioned JSON written tmp + fsync +
// rename + fsync(dir), so a crash leaves either the old or the new file.
//
// Threading: plain values and free functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kobs::collect::k8s_events {

struct StoredEvent {
  std::vector<std::string> resource_versions;  // oldest first
  int64_t last_time_ns = 0;
};

struct CheckpointState {
  static constexpr int kVersion = 1;
  std::map<std::string, std::string> resume;
  int64_t committed_observed_ns = 0;
  std::unordered_map<std::string, StoredEvent> events;
};

std::string checkpointToJson(const CheckpointState& state);
// Throws kobs::Exception(kCorruptData) on a malformed or unknown-version document.
CheckpointState checkpointFromJson(std::string_view json);

// nullopt when the file does not exist. A corrupt file throws kCorruptData.
std::optional<CheckpointState> loadCheckpoint(const std::filesystem::path& file);

// Numeric order of two resourceVersions when both are decimal integers (as
// etcd revisions are); nullopt otherwise (they are opaque by contract).
std::optional<int> compareResourceVersions(std::string_view a, std::string_view b);

}  // namespace kobs::collect::k8s_events
