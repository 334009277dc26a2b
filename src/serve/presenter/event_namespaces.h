// EventNamespaces: the namespaces that have stored events, the candidates the
// presenter asks the Kubernetes API about when it scopes a user to the
// namespaces they may read (auth/access_review.h).
//
// Why the store and not the cluster's namespace list: only namespaces with
// rows can appear in an answer, so a namespace without events needs no
// review; rows of a namespace since deleted are still listed here (its
// RoleBindings are gone with it, so only a cluster-wide grant shows them,
// which is right); and kobs needs no extra RBAC (list namespaces). The query
// reads one LowCardinality column, and its answer is shared by every user
// for `ttl`: a namespace whose first event is newer than that is seen by
// namespace-scoped users after the next refresh (fail closed meanwhile).
//
// Threading: thread-safe; get() blocks on the store when the cached answer
// is older than `ttl` (one caller queries, concurrent callers wait for it).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "store/store.h"

namespace kobs::serve::presenter {

class EventNamespaces {
 public:
  EventNamespaces(store::IStore& store, std::string database, std::string table, std::chrono::milliseconds ttl);

  // Distinct obj_namespace values of the events table, sorted. Throws the
  // store's errors.
  std::vector<std::string> get();

  uint64_t queries() const;  // store queries run (for tests)

 private:
  store::IStore& store_;
  const std::string database_, table_;
  const std::chrono::milliseconds ttl_;
  mutable std::mutex mutex_;
  std::vector<std::string> namespaces_;
  std::chrono::steady_clock::time_point fetched_{};
  bool have_ = false;
  uint64_t queries_ = 0;
};

}  // namespace kobs::serve::presenter
