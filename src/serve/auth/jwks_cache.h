// JwksCache: the RS256 keys of a JWKS URL (authn's /.well-known/jwks.json),
// fetched in the background and served from memory.
//
// A request never fetches: lookup() reads the current key set (an immutable
// snapshot) and, when the kid is not in it, asks the refresher thread for a
// new fetch (at most once per `min_refresh`) and answers at once:
//   - kFound: the keys for the kid;
//   - kUnavailable: no key set was ever fetched (the URL is down or hung);
//     callers answer 503 so clients retry;
//   - kRefreshing: the kid is unknown and a fetch is due or running (key
//     rotation); callers answer 503 so clients retry;
//   - kUnknown: the kid is not in a key set fetched within `min_refresh`.
// The set is also refreshed every `refresh_every`; a failed refresh keeps the
// last good set, so cached keys serve while a refresh runs or fails.
//
// Threading: one refresher thread does every fetch (libcurl, `timeout` per
// attempt, cut short when the cache is destroyed). lookup(), waitForFetch()
// are thread-safe and never wait on the network; they take one short lock
// that no fetch holds.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/stop.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace kobs::serve::auth {

struct JwksOptions {
  std::string url;
  std::chrono::milliseconds timeout{5000};
  std::chrono::milliseconds min_refresh{10000};  // unknown kids cannot hammer the JWKS
  std::chrono::milliseconds refresh_every{std::chrono::minutes(5)};
};

class JwksCache {
 public:
  using Key = std::shared_ptr<EVP_PKEY>;
  enum class Status : uint8_t { kFound = 0, kUnavailable = 1, kRefreshing = 2, kUnknown = 3 };
  struct Lookup {
    Status status = Status::kUnavailable;
    std::vector<Key> keys;  // kFound: the kid's key (every key when the kid is empty)
  };

  // Starts the refresher, which fetches at once.
  explicit JwksCache(JwksOptions options);
  ~JwksCache();
  JwksCache(const JwksCache&) = delete;
  JwksCache& operator=(const JwksCache&) = delete;

  Lookup lookup(const std::string& kid);

  // For tests and startup logs: waits until `n` fetches have completed (ok or
  // not); true if they did within `timeout`.
  bool waitForFetches(uint64_t n, std::chrono::milliseconds timeout);
  uint64_t fetchesCompleted() const;

 private:
  using Clock = std::chrono::steady_clock;
  using KeySet = std::map<std::string, Key>;

  void run();
  // One fetch; the parsed set, or null when it failed.
  std::shared_ptr<const KeySet> fetch();

  const JwksOptions options_;
  StopSource stop_;

  mutable std::mutex mutex_;  // guards the fields below; never held during a fetch
  std::condition_variable cv_;
  std::shared_ptr<const KeySet> keys_;  // the last good set; null until one
  bool fetching_ = false;
  bool refresh_requested_ = false;
  Clock::time_point last_fetch_started_{};
  uint64_t fetches_completed_ = 0;

  std::thread thread_;
};

}  // namespace kobs::serve::auth
