// LeaseClient: get/create/update of coordination.k8s.io/v1 Leases, the
// building block of leader election. Updates carry the resourceVersion that
// was read, so two replicas racing to take the lease cannot both win: the
// loser gets ApiError::isConflict() and must re-read.
//
// Threading: thread-safe (stateless over ApiClient).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "k8s/api_client.h"

namespace kobs::k8s {

struct Lease {
  std::string ns;
  std::string name;
  std::string resource_version;  // from the server; required for update
  std::string holder_identity;
  int lease_duration_seconds = 0;
  std::optional<std::chrono::system_clock::time_point> acquire_time;
  std::optional<std::chrono::system_clock::time_point> renew_time;
  int lease_transitions = 0;
};

// metav1.MicroTime text: "2024-05-01T10:00:00.123456Z".
std::string formatMicroTime(std::chrono::system_clock::time_point t);

std::string leaseToJson(const Lease& lease);
Lease leaseFromJson(std::string_view json);  // throws kBadInput

class LeaseClient {
 public:
  explicit LeaseClient(ApiClient& api) : api_(api) {}

  std::optional<Lease> get(const std::string& ns, const std::string& name);
  // 409 (AlreadyExists) throws ApiError with isConflict().
  Lease create(const Lease& lease);
  // 409 (stale resourceVersion) throws ApiError with isConflict().
  Lease update(const Lease& lease);

 private:
  ApiClient& api_;
};

}  // namespace kobs::k8s
