// RecentEvents: the newest rows of each recently active composition, in
// memory, so that /events/{id} (and ?composition_id=) pages near the top are
// answered without a store query. Older pages, cold compositions and
// anything this cannot vouch for go to the store (EventReader), which stays
// the source of truth; a page from here has the bytes the store path gives.
//
// Why: the store answers one composition's newest page in 13-19 ms at 10M
// rows (a query's floor on the embedded engine is ~3 ms); the frontend asks
// for the compositions people are looking at, which are the active ones.
//
// Contents, per composition (at most `rows` of them, in /events order:
// ts DESC, row_key DESC): invariant "every row of the composition whose
// order key is above `floor` is here". A page is served from here when it
// can be made entirely of rows above the floor (or the composition has no
// floor: all of its rows are here).
//
// Fed by the EventFeed: a published event of a composition not yet here
// creates its entry (collecting the feed's rows from then on) and queues a
// load: this component's thread reads the composition's newest `rows` rows
// from the store and merges them. Every row published before the entry was
// created was already in the store when the load ran (the feed publishes
// after commit), so after the load the invariant holds. Until its load is
// done a composition is answered by the store. Over `rows`, the lowest row
// leaves and the floor rises to it. Bounds: a composition without a
// published event for `idle` leaves; beyond `max_bytes` (an estimate of the
// rows' heap) the least recently active one leaves.
// Not reflected: rows removed from the store by TTL or mutations, rows the
// feed never publishes (visible later than its lookback), and, with local
// publishing (publish_when_durable), a composition's events published before
// this subscribed and not yet stored when its load ran (process start only).
//
// Threading: the feed's listener applies rows under a mutex (no I/O);
// page() is thread-safe and copies at most `limit` pointers under a shared
// lock (now also from io threads: see events_api.h); one internal thread
// runs the loads (blocking store queries; the JSON built outside the lock).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "serve/events/event_feed.h"
#include "serve/events/event_reader.h"

namespace kobs::serve::events {

struct RecentOptions {
  size_t rows = 200;  // per composition; 0: off
  size_t max_bytes = 64 << 20;
  std::chrono::milliseconds idle{std::chrono::hours(1)};
  std::chrono::milliseconds retry{1000};  // after a failed load
};

struct RecentStats {
  std::atomic<uint64_t> hits{0};     // pages answered from memory
  std::atomic<uint64_t> misses{0};   // pages left to the store
  std::atomic<uint64_t> loads{0};
  std::atomic<uint64_t> errors{0};   // failed loads (retried)
  std::atomic<uint64_t> dropped{0};  // compositions that left (idle or over budget)
};

class RecentEvents {
 public:
  RecentEvents(const EventReader& reader, EventFeed& feed, RecentOptions options);
  ~RecentEvents();
  RecentEvents(const RecentEvents&) = delete;
  RecentEvents& operator=(const RecentEvents&) = delete;

  void start();  // subscribes to the feed and starts the loader
  void stop();   // idempotent

  // The page the store would give for newest(composition, limit, before), or
  // nullopt when it must come from the store.
  std::optional<std::vector<std::shared_ptr<const FeedEvent>>> page(const std::string& composition, size_t limit,
                                                                    const std::optional<EventCursor>& before) const;

  // Waits (at most `timeout`) until `composition` is loaded. Tests and benches.
  bool waitLoaded(const std::string& composition, std::chrono::milliseconds timeout) const;

  size_t compositions() const;
  size_t bytes() const;
  const RecentStats& stats() const { return stats_; }

  // Applies published events as the feed's listener does (tests).
  void onBatch(const FeedBatch& batch);

 private:
  // /events order: (ts, row_key), then ingest so that two rows with the same
  // key both stay. Held in a map ordered descending.
  using Key = std::tuple<int64_t, uint64_t, int64_t>;
  using Rows = std::map<Key, std::shared_ptr<const FeedEvent>, std::greater<Key>>;
  struct Entry {
    Rows rows;
    std::optional<Key> floor;  // rows at or below it may be in the store only
    bool loaded = false;
    size_t bytes = 0;
    std::chrono::steady_clock::time_point active;
    std::list<std::string>::iterator lru;  // position in lru_
  };

  static Key keyOf(const StoredEvent& e) { return {e.cursor.ts_ns, e.cursor.key, e.cursor.ingest_ns}; }
  static size_t sizeOf(const FeedEvent& e);
  void run();
  void insertLocked(Entry& entry, std::shared_ptr<const FeedEvent> event);
  void trimLocked(Entry& entry);
  void dropLocked(std::unordered_map<std::string, Entry>::iterator it);
  void boundLocked(std::chrono::steady_clock::time_point now);

  const EventReader& reader_;
  EventFeed& feed_;
  const RecentOptions options_;
  mutable RecentStats stats_;

  mutable std::shared_mutex mutex_;  // entries_, lru_, bytes_, to_load_
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // most recently active first
  size_t bytes_ = 0;
  std::deque<std::string> to_load_;

  mutable std::mutex wake_mutex_;
  mutable std::condition_variable wake_cv_;  // also signalled after each load
  bool stopping_ = false;  // guarded by wake_mutex_
  bool kicked_ = false;    // a load was queued; guarded by wake_mutex_
  std::optional<uint64_t> subscription_;
  std::thread thread_;
};

}  // namespace kobs::serve::events
