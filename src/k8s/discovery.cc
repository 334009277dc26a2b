#include "k8s/discovery.h"

#include <nlohmann/json.hpp>

#include "k8s/api_error.h"
#include "k8s/http_client.h"

namespace kobs::k8s {

Discovery::Discovery(HttpClient& http, DiscoveryOptions options) : http_(http), options_(options) {}

Discovery::GroupVersion Discovery::fetch(const std::string& api_version) {
  auto [group, version] = splitApiVersion(api_version);
  GroupVersion gv;
  gv.fetched_at = std::chrono::steady_clock::now();
  auto response = http_.request("GET", groupVersionPath(group, version));
  {
    std::lock_guard lock(mutex_);
    ++fetches_;
  }
  if (response.status == 404) return gv;  // group version not served (yet)
  if (response.status != 200) throw apiErrorFromResponse(response.status, response.body, "discovery " + api_version);
  // Discovery documents are small and rarely read: nlohmann is fine here.
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (!doc.is_object() || !doc.contains("resources") || !doc["resources"].is_array())
    throw ApiError(ErrorCode::kBadInput, response.status, "", "discovery " + api_version + ": not an APIResourceList");
  gv.exists = true;
  for (const auto& r : doc["resources"]) {
    std::string name = r.value("name", "");
    if (name.empty() || name.find('/') != std::string::npos) continue;  // subresources (pods/log)
    ResourceInfo info;
    info.ref = ResourceRef{group, version, name};
    info.kind = r.value("kind", "");
    info.namespaced = r.value("namespaced", false);
    gv.resources.push_back(std::move(info));
  }
  return gv;
}

std::optional<ResourceInfo> Discovery::resolve(std::string_view api_version, std::string_view kind) {
  std::string key(api_version);
  auto find = [&](const GroupVersion& gv) -> std::optional<ResourceInfo> {
    for (const auto& r : gv.resources)
      if (r.kind == kind) return r;
    return std::nullopt;
  };
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (auto hit = find(it->second)) return hit;
      if (std::chrono::steady_clock::now() - it->second.fetched_at < options_.refresh_min_interval) return std::nullopt;
    }
  }
  GroupVersion gv = fetch(key);
  auto result = find(gv);
  std::lock_guard lock(mutex_);
  cache_[key] = std::move(gv);
  return result;
}

std::vector<ResourceInfo> Discovery::resources(std::string_view api_version) {
  std::string key(api_version);
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second.resources;
  }
  GroupVersion gv = fetch(key);
  auto out = gv.resources;
  std::lock_guard lock(mutex_);
  cache_[key] = std::move(gv);
  return out;
}

void Discovery::invalidate() {
  std::lock_guard lock(mutex_);
  cache_.clear();
}

uint64_t Discovery::fetches() const {
  std::lock_guard lock(mutex_);
  return fetches_;
}

}  // namespace kobs::k8s
