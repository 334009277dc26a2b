#include "serve/events/recent_events.h"

#include <climits>

#include "common/logging.h"

namespace kobs::serve::events {

RecentEvents::RecentEvents(const EventReader& reader, EventFeed& feed, RecentOptions options)
    : reader_(reader), feed_(feed), options_(options) {}

RecentEvents::~RecentEvents() { stop(); }

void RecentEvents::start() {
  subscription_ = feed_.subscribe([this](const FeedBatch& batch) { onBatch(batch); }).first;
  thread_ = std::thread([this] { run(); });
}

void RecentEvents::stop() {
  if (subscription_) {
    feed_.unsubscribe(*subscription_);
    subscription_.reset();
  }
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

size_t RecentEvents::sizeOf(const FeedEvent& e) {
  const StoredEvent& r = e.row;
  // The strings' heap (short ones fit inside the object) and the map node.
  size_t n = sizeof(FeedEvent) + 96 + e.json.capacity();
  for (const std::string* s : {&r.composition_id, &r.obj_apiversion, &r.obj_kind, &r.obj_name, &r.obj_namespace,
                               &r.obj_uid, &r.reason, &r.message, &r.type, &r.source_component, &r.event_time})
    if (s->capacity() > 15) n += s->capacity() + 1;
  return n;
}

void RecentEvents::onBatch(const FeedBatch& batch) {
  const auto now = std::chrono::steady_clock::now();
  bool queued = false;
  {
    std::unique_lock lock(mutex_);
    for (const auto& e : batch) {
      // What the store path would never return: no composition, or no reason.
      if (e->row.composition_id.empty() || e->row.reason.empty()) continue;
      auto it = entries_.find(e->row.composition_id);
      if (it == entries_.end()) {
        lru_.push_front(e->row.composition_id);
        it = entries_.emplace(e->row.composition_id, Entry{}).first;
        it->second.lru = lru_.begin();
        to_load_.push_back(e->row.composition_id);
        queued = true;
      } else {
        lru_.splice(lru_.begin(), lru_, it->second.lru);
      }
      it->second.active = now;
      insertLocked(it->second, e);
      trimLocked(it->second);
    }
    boundLocked(now);
  }
  if (queued) {
    {
      std::lock_guard lock(wake_mutex_);
      kicked_ = true;
    }
    wake_cv_.notify_all();
  }
}

void RecentEvents::insertLocked(Entry& entry, std::shared_ptr<const FeedEvent> event) {
  const Key key = keyOf(event->row);
  if (entry.floor && key <= *entry.floor) return;  // the store has it, below what is kept here
  const size_t size = sizeOf(*event);
  if (entry.rows.emplace(key, std::move(event)).second) {
    entry.bytes += size;
    bytes_ += size;
  }
}

void RecentEvents::trimLocked(Entry& entry) {
  while (entry.rows.size() > options_.rows) {
    auto lowest = std::prev(entry.rows.end());
    const size_t size = sizeOf(*lowest->second);
    entry.floor = lowest->first;
    entry.bytes -= size;
    bytes_ -= size;
    entry.rows.erase(lowest);
  }
}

void RecentEvents::dropLocked(std::unordered_map<std::string, Entry>::iterator it) {
  bytes_ -= it->second.bytes;
  lru_.erase(it->second.lru);
  entries_.erase(it);
  stats_.dropped.fetch_add(1, std::memory_order_relaxed);
}

void RecentEvents::boundLocked(std::chrono::steady_clock::time_point now) {
  // The least recently active is at the back: idle ones first, then over budget.
  while (!lru_.empty()) {
    auto it = entries_.find(lru_.back());
    const bool idle = now - it->second.active > options_.idle;
    // Keep the most recent one even over budget: a page of it is what was asked for last.
    if (!idle && (bytes_ <= options_.max_bytes || lru_.size() == 1)) break;
    dropLocked(it);
  }
}

void RecentEvents::run() {
  auto log = logging::get("events.recent");
  while (true) {
    {
      std::lock_guard lock(wake_mutex_);
      kicked_ = false;  // set again by a load queued from here on
    }
    std::optional<std::string> next;
    {
      std::unique_lock lock(mutex_);
      // A composition that left before its load is skipped.
      while (!to_load_.empty() && !next) {
        auto it = entries_.find(to_load_.front());
        if (it != entries_.end() && !it->second.loaded) next = to_load_.front();
        to_load_.pop_front();
      }
      if (!next) boundLocked(std::chrono::steady_clock::now());
    }
    if (!next) {
      std::unique_lock lock(wake_mutex_);
      if (stopping_) return;
      // Woken by a queued load; otherwise drop idle compositions now and then.
      wake_cv_.wait_for(lock, std::min<std::chrono::milliseconds>(options_.idle, std::chrono::minutes(1)),
                        [&] { return stopping_ || kicked_; });
      if (stopping_) return;
      continue;
    }
    try {
      stats_.loads.fetch_add(1, std::memory_order_relaxed);
      // One more than is kept: it becomes the floor, so a full page of
      // `rows` lies above it.
      auto rows = reader_.newest(*next, options_.rows + 1);
      const bool complete = rows.size() <= options_.rows;
      // The JSON is built before the lock: page() readers (on io threads) wait for it.
      std::vector<std::shared_ptr<const FeedEvent>> loaded;
      loaded.reserve(rows.size());
      for (auto& r : rows) {
        auto e = std::make_shared<FeedEvent>();
        e->json = sseK8sEventJson(r);
        e->row = std::move(r);
        loaded.push_back(std::move(e));
      }
      std::unique_lock lock(mutex_);
      auto it = entries_.find(*next);
      if (it == entries_.end()) continue;  // left meanwhile
      Entry& entry = it->second;
      std::optional<Key> lowest;
      for (auto& e : loaded) {
        lowest = keyOf(e->row);
        insertLocked(entry, std::move(e));
      }
      // A full page: older rows may be in the store only. The lowest loaded
      // row is here, so it may serve as the floor (rows strictly above are all here).
      if (!complete && lowest && (!entry.floor || *entry.floor < *lowest)) {
        entry.floor = lowest;
        for (auto r = entry.rows.lower_bound(*lowest); r != entry.rows.end();) {
          const size_t size = sizeOf(*r->second);
          entry.bytes -= size;
          bytes_ -= size;
          r = entry.rows.erase(r);
        }
      }
      trimLocked(entry);
      entry.loaded = true;
      boundLocked(std::chrono::steady_clock::now());
    } catch (const std::exception& e) {
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      log->warn("recent events of composition {}: store query failed ({}); retrying", *next, e.what());
      {
        std::unique_lock lock(mutex_);
        to_load_.push_back(*next);
      }
      std::unique_lock lock(wake_mutex_);
      wake_cv_.wait_for(lock, options_.retry, [&] { return stopping_; });
      if (stopping_) return;
      continue;
    }
    wake_cv_.notify_all();  // waitLoaded()
  }
}

std::optional<std::vector<std::shared_ptr<const FeedEvent>>> RecentEvents::page(
    const std::string& composition, size_t limit, const std::optional<EventCursor>& before) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(composition);
  if (it == entries_.end() || !it->second.loaded) {
    stats_.misses.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  const Entry& entry = it->second;
  // The store's `(ts, row_key) < before`: after every key with before's
  // (ts, row_key) in descending order.
  auto r = before ? entry.rows.upper_bound(Key{before->ts_ns, before->key, INT64_MIN}) : entry.rows.begin();
  std::vector<std::shared_ptr<const FeedEvent>> out;
  for (; r != entry.rows.end() && out.size() < limit; ++r) {
    if (entry.floor && r->first <= *entry.floor) break;
    out.push_back(r->second);
  }
  if (out.size() < limit && entry.floor) {
    stats_.misses.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;  // the rest of the page is below the floor
  }
  stats_.hits.fetch_add(1, std::memory_order_relaxed);
  return out;
}

bool RecentEvents::waitLoaded(const std::string& composition, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    {
      std::shared_lock lock(mutex_);
      auto it = entries_.find(composition);
      if (it != entries_.end() && it->second.loaded) return true;
    }
    std::unique_lock wait(wake_mutex_);
    if (stopping_ || std::chrono::steady_clock::now() >= deadline) return false;
    // Woken after each load; the short bound covers a load finishing before this waits.
    wake_cv_.wait_for(wait, std::chrono::milliseconds(20));
  }
}

size_t RecentEvents::compositions() const {
  std::shared_lock lock(mutex_);
  return entries_.size();
}

size_t RecentEvents::bytes() const {
  std::shared_lock lock(mutex_);
  return bytes_;
}

}  // namespace kobs::serve::events
