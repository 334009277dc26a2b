// LruCache: a bounded map that evicts the least recently used entry when
// full. Entries carry an expiry; an expired entry is a miss and is dropped.
//
// Threading: not thread-safe; the owner serialises access.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

namespace kobs::collect::composition {

template <typename Value, typename Clock = std::chrono::steady_clock>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // The value if present and not expired at `now`; refreshes its recency.
  std::optional<Value> get(const std::string& key, typename Clock::time_point now) {
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    if (it->second->expires <= now) {
      order_.erase(it->second);
      index_.erase(it);
      return std::nullopt;
    }
    order_.splice(order_.begin(), order_, it->second);
    return it->second->value;
  }

  void put(const std::string& key, Value value, typename Clock::time_point expires) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->value = std::move(value);
      it->second->expires = expires;
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    if (index_.size() >= capacity_) {
      index_.erase(order_.back().key);
      order_.pop_back();
      ++evictions_;
    }
    order_.push_front(Node{key, std::move(value), expires});
    index_.emplace(key, order_.begin());
  }

  size_t size() const { return index_.size(); }
  size_t capacity() const { return capacity_; }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Node {
    std::string key;
    Value value;
    typename Clock::time_point expires;
  };
  size_t capacity_;
  std::list<Node> order_;  // most recent first
  std::unordered_map<std::string, typename std::list<Node>::iterator> index_;
  uint64_t evictions_ = 0;
};

}  // namespace kobs::collect::composition
