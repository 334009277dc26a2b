// Names of Kubernetes resources and the REST paths that address them.
//
// Threading: plain values and pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace kobs::k8s {

// One resource collection of one API group version: {"", "v1", "events"},
// {"coordination.k8s.io", "v1", "leases"}. The core group is "".
struct ResourceRef {
  std::string group;
  std::string version;
  std::string resource;

  // "v1" for the core group, else "group/version".
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  bool operator==(const ResourceRef&) const = default;
};

// Discovery's answer for one kind: where it lives and whether it is namespaced.
struct ResourceInfo {
  ResourceRef ref;
  std::string kind;
  bool namespaced = true;
};

// "apps/v1" → {"apps", "v1"}; "v1" → {"", "v1"}.
std::pair<std::string, std::string> splitApiVersion(std::string_view api_version);

// /api/v1 or /apis/<group>/<version>.
std::string groupVersionPath(std::string_view group, std::string_view version);

// Collection path (name empty) or object path. An empty namespace addresses
// all namespaces (or a cluster-scoped resource).
std::string resourcePath(const ResourceRef& ref, std::string_view ns, std::string_view name = {});

// Percent-encodes a query parameter value (RFC 3986 unreserved kept).
std::string urlEncode(std::string_view value);

// Well-known refs used across kobs.
inline ResourceRef coreEvents() { return {"", "v1", "events"}; }
inline ResourceRef eventsV1() { return {"events.k8s.io", "v1", "events"}; }
inline ResourceRef leases() { return {"coordination.k8s.io", "v1", "leases"}; }

}  // namespace kobs::k8s
