// Discovery: maps apiVersion + kind to the REST resource that serves it
// (Pod → pods, namespaced) from the API server's discovery documents
// (/api/v1, /apis/<group>/<version>). Each group version is fetched on first
// use and cached; a kind that is missing from the cache refetches its group
// version (a CRD installed since), at most once per refresh_min_interval so
// lookups of a kind that does not exist cannot flood the server.
//
// Threading: thread-safe; a fetch holds no lock while waiting on the network.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/resource.h"

namespace kobs::k8s {

class HttpClient;

struct DiscoveryOptions {
  std::chrono::milliseconds refresh_min_interval = std::chrono::seconds(30);
};

class Discovery {
 public:
  Discovery(HttpClient& http, DiscoveryOptions options);

  // nullopt when the group version or kind does not exist. Throws ApiError
  // when the server cannot be asked.
  std::optional<ResourceInfo> resolve(std::string_view api_version, std::string_view kind);
  // Every kind of a group version (fetched when not cached).
  std::vector<ResourceInfo> resources(std::string_view api_version);
  // Forget everything (tests, or after a long disconnection).
  void invalidate();

  uint64_t fetches() const;

 private:
  struct GroupVersion {
    std::vector<ResourceInfo> resources;
    std::chrono::steady_clock::time_point fetched_at;
    bool exists = false;
  };
  GroupVersion fetch(const std::string& api_version);

  HttpClient& http_;
  const DiscoveryOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, GroupVersion, std::less<>> cache_;
  uint64_t fetches_ = 0;
};

}  // namespace kobs::k8s
