// NamespaceAuthorizer: may this user list Kubernetes events in a namespace?
// Asked of the Kubernetes API with a SubjectAccessReview
// (POST /apis/authorization.k8s.io/v1/subjectaccessreviews, spec.user,
// spec.groups, spec.resourceAttributes{namespace, verb "list", group "",
// resource "events"}), the same question the API server would answer if the
// user listed events with their own credentials. The presenter uses it to
// scope /events and /notifications to the namespaces the user may read.
//
// - Namespace "" asks for a cluster-wide grant (a ClusterRoleBinding): it
//   covers every namespace, so it is asked first and, when allowed, no
//   per-namespace review follows.
// - The groups sent are the token's plus "system:authenticated", which the
//   API server adds to every authenticated user (bindings to it apply to all
//   users, as they would for the user's own requests).
// - Answers are cached per (user, groups, namespace) for `ttl` (bounded by
//   `max_entries`): a revoked grant stops working within the TTL.
// - Fail closed: when the API cannot answer (unreachable, timeout, 5xx, or a
//   refusal such as kobs's service account lacking `create` on
//   subjectaccessreviews), the call throws Exception(kApiUnavailable) and
//   callers refuse the request (503), never widen it.
//
// Counters (when a registry is given): kobs_presenter_access_reviews_total
// {result=allowed|denied|error}, kobs_presenter_access_cache_hits_total
// {check="access_review"}.
//
// Threading: thread-safe; allowed()/decide()/allowedAmong() block the caller
// on API calls (one per uncached namespace); cached()/cachedAllows() never do.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "serve/auth/authenticator.h"
#include "serve/auth/ttl_cache.h"

namespace kobs::k8s {
class ApiClient;
}

namespace kobs::serve::auth {

// The Kubernetes API client, built on first use (the cluster may be
// unreachable when kobs starts). Throws when it cannot be had; callers fail
// closed.
using ApiClientSource = std::function<k8s::ApiClient&()>;

struct AccessReviewOptions {
  std::chrono::milliseconds ttl{30000};
  size_t max_entries = 10000;
};

class NamespaceAuthorizer {
 public:
  NamespaceAuthorizer(ApiClientSource api, AccessReviewOptions options, metrics::Registry* metrics = nullptr);

  // May `who` list events in `ns` ("": in every namespace)? Cached, else one
  // SubjectAccessReview. Throws Exception(kApiUnavailable).
  bool allowed(const Identity& who, const std::string& ns);
  // The cached answer for exactly this namespace, if fresh; never blocks.
  std::optional<bool> cached(const Identity& who, const std::string& ns) const;

  // The answer for `ns` counting a cluster-wide grant, from the cache only:
  // nullopt when it would need a review. Rows of cluster-scoped objects
  // (namespace "") need the cluster-wide grant.
  std::optional<bool> cachedAllows(const Identity& who, const std::string& ns) const;
  // The answers for these namespaces (cluster-wide grant first). Throws
  // Exception(kApiUnavailable).
  std::map<std::string, bool> decide(const Identity& who, const std::vector<std::string>& namespaces);
  // nullopt: every namespace (cluster-wide grant); else the members of
  // `candidates` the user may list events in. Throws Exception(kApiUnavailable).
  std::optional<std::vector<std::string>> allowedAmong(const Identity& who, const std::vector<std::string>& candidates);

  uint64_t reviews() const { return reviews_.value(); }  // SubjectAccessReviews sent

 private:
  static std::string key(const Identity& who, const std::string& ns);
  bool review(const Identity& who, const std::string& ns);

  ApiClientSource api_;
  TtlCache<bool> cache_;
  metrics::Counter reviews_;
  metrics::Counter local_allowed_, local_denied_, local_errors_, local_hits_;
  metrics::Counter* allowed_;
  metrics::Counter* denied_;
  metrics::Counter* errors_;
  metrics::Counter* hits_;
};

}  // namespace kobs::serve::auth
