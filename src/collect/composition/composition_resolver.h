// CompositionResolver: the Krateo composition id of an event's involved
// object (contract §2, plus owner references, a bounded cache and an API
// call budget).
//
//   1. Cache by the object's uid (LRU, bounded): 5 min for a found id, 30 s
//      for "no id" (not found, unlabelled, API failure).
//   2. On a miss, GET the object (discovery maps apiVersion/kind); its label
//      `label_key` is the id; else, when its API group is
//      composition.krateo.io, its own uid is the id; else its
//      ownerReferences are followed (depth-first, in listed order, up to
//      max_owner_depth levels) and the first owner that yields an id wins.
//      Every object visited is cached under its own uid, so the pods of one
//      ReplicaSet cost one owner lookup.
//   3. Every GET takes a token from a per-second budget. When the budget is
//      exhausted the resolver does NOT wait (the watch thread must keep up
//      with the stream and waiting would only move the backlog into the
//      watch): the event is stored without an id, `budget_exhausted` is
//      counted, and nothing is cached, so the next event of that object
//      retries once tokens are back.
//
// Threading: thread-safe. The cache and budget are under a mutex; API calls
// run outside it (two threads missing the same uid at once may both fetch).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "collect/composition/lru_cache.h"
#include "collect/composition/token_bucket.h"

namespace kobs::k8s {
class ApiClient;
}

namespace kobs::collect::composition {

struct ObjectRef {
  std::string api_version;
  std::string kind;
  std::string ns;
  std::string name;
  std::string uid;
};

// The object's JSON, nullopt when it (or its kind) does not exist; throws
// on API failure.
using ObjectFetcher = std::function<std::optional<std::string>(const ObjectRef&)>;

// ApiClient::getObject as a fetcher.
ObjectFetcher apiFetcher(k8s::ApiClient& api);

struct ResolverOptions {
  std::string label_key = "krateo.io/composition-id";
  std::string composition_group = "composition.krateo.io";
  int max_owner_depth = 3;
  size_t cache_size = 100000;
  std::chrono::milliseconds ttl_found = std::chrono::minutes(5);
  std::chrono::milliseconds ttl_not_found = std::chrono::seconds(30);
  double api_calls_per_second = 50;  // <= 0: unlimited
  double api_burst = 100;
  std::function<std::chrono::steady_clock::time_point()> clock;  // default steady_clock::now
};

#define KOBS_RESOLVER_COUNTERS(X)                                               \
  X(cache_hits, "lookups answered by the cache")                               \
  X(cache_misses, "lookups that needed the API")                               \
  X(api_calls, "GETs of involved objects and owners")                          \
  X(api_errors, "GETs that failed (the event is stored without an id)")        \
  X(not_found, "objects that did not exist")                                   \
  X(resolved, "events given a composition id")                                 \
  X(unresolved, "events left without a composition id")                        \
  X(budget_exhausted, "lookups skipped because the API call budget was spent")

struct ResolverStats {
#define KOBS_DECLARE_COUNTER(name, help) std::atomic<uint64_t> name{0};
  KOBS_RESOLVER_COUNTERS(KOBS_DECLARE_COUNTER)
#undef KOBS_DECLARE_COUNTER
};

class CompositionResolver {
 public:
  CompositionResolver(ObjectFetcher fetch, ResolverOptions options = {});

  // The composition id, or "" when there is none (or it could not be found
  // now). Objects without kind, name or uid resolve to "" without a lookup.
  std::string resolve(const ObjectRef& object);

  const ResolverStats& stats() const { return stats_; }
  size_t cacheSize() const;
  uint64_t cacheEvictions() const;
  double hitRatio() const;

 private:
  enum class Outcome { kFound, kNone, kSkipped };  // kSkipped: budget spent or depth, not cacheable
  Outcome lookup(const ObjectRef& object, int depth, std::string& id);
  std::chrono::steady_clock::time_point now() const;

  ObjectFetcher fetch_;
  ResolverOptions options_;
  mutable std::mutex mutex_;
  LruCache<std::string> cache_;
  TokenBucket budget_;
  ResolverStats stats_;
};

}  // namespace kobs::collect::composition
