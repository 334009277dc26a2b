// TtlCache: a small map whose entries expire after a fixed time, with a bound
// on its size. The access checks (access_review.h, clientconfig_check.h) keep
// Kubernetes API answers in it briefly, so a page of list requests or a burst
// of reconnecting streams costs one API call per user and namespace, not one
// per request, while a revoked grant stops working within the TTL.
//
// When full, expired entries go first, then the entry closest to expiry
// (the oldest answer): O(n) per insert only when full, fine for the few
// thousand entries this holds.
//
// Threading: thread-safe (one mutex); values are copied out.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace kobs::serve::auth {

template <class V>
class TtlCache {
 public:
  using Clock = std::chrono::steady_clock;

  TtlCache(std::chrono::milliseconds ttl, size_t max_entries, std::function<Clock::time_point()> now = Clock::now)
      : ttl_(ttl), max_entries_(max_entries == 0 ? 1 : max_entries), now_(std::move(now)) {}

  // The fresh value, or nullopt (absent or expired). A TTL of 0 caches nothing.
  std::optional<V> get(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto it = map_.find(key);
    if (it == map_.end() || it->second.expires <= now_()) return std::nullopt;
    return it->second.value;
  }

  void put(const std::string& key, V value) {
    if (ttl_.count() <= 0) return;
    std::lock_guard lock(mutex_);
    const auto now = now_();
    if (map_.size() >= max_entries_ && !map_.count(key)) evictLocked(now);
    map_[key] = Entry{std::move(value), now + ttl_};
  }

  size_t size() const {
    std::lock_guard lock(mutex_);
    return map_.size();
  }

  void clear() {
    std::lock_guard lock(mutex_);
    map_.clear();
  }

 private:
  struct Entry {
    V value;
    Clock::time_point expires;
  };

  void evictLocked(Clock::time_point now) {
    for (auto it = map_.begin(); it != map_.end();) it = it->second.expires <= now ? map_.erase(it) : std::next(it);
    if (map_.size() < max_entries_) return;
    auto oldest = map_.begin();
    for (auto it = map_.begin(); it != map_.end(); ++it)
      if (it->second.expires < oldest->second.expires) oldest = it;
    map_.erase(oldest);
  }

  const std::chrono::milliseconds ttl_;
  const size_t max_entries_;
  const std::function<Clock::time_point()> now_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> map_;
};

}  // namespace kobs::serve::auth
