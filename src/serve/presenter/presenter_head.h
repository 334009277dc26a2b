// PresenterHead: the newest row of each of the most recently active events,
// in memory, so that the presenter's /events pages near the top (the first
// page the frontend asks for, and a hundred pages further down) are answered
// without a ClickHouse query. Pages below it come from the store
// (PresenterReader), which stays the source of truth.
//
// Why: the store answers "newest row per event, newest first" with a window
// scan plus a per-uid check over a table sorted by composition; at 1M rows
// that took 300-500 ms a page. Everything the frontend pages through in
// practice is recent, and recent events are few.
//
// Contents: for up to `capacity` events (global_uid), the newest stored row
// (with raw). Invariant: every event whose newest row has a page key
// (created, global_uid) above `floor` is here with that row. So a page is
// served from memory down to the floor, and continued from the store at and
// below the floor, where the store's own newest-row check holds (an event
// that has a newer row above the floor is skipped there: it was served here).
//
// Fed by the EventFeed: each published batch's cursors are queued; the head's
// thread reads those rows with raw (one query per batch, so the SSE fan-out
// never waits for it) and applies them: a newer row of an event replaces the
// older one; a row at or below the floor of an event not here is left to the
// store. Over capacity, the lowest entry leaves and the floor rises to it.
// Start: subscribe first, then load the newest `capacity` events (keys only,
// then their rows by primary key); rows published meanwhile arrive twice and
// applying is idempotent. Until the load is done, ready() is false and the
// reader uses the store alone.
// Not reflected: rows removed from the store by TTL stay here until pushed
// out by newer events.
//
// Threading: one internal thread loads and applies; list(), ready(), sync()
// and stats are thread-safe (a shared mutex guards the index; list() copies
// at most limit+1 items under it). The feed's listener only queues cursors.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "serve/events/event_feed.h"
#include "serve/presenter/presenter_item.h"

namespace kobs::serve::presenter {

class PresenterReader;
struct ListQuery;

struct HeadOptions {
  size_t capacity = 20000;  // events kept (each with its raw Event, ~1-2 KB)
  size_t load_chunk = 1000;  // rows fetched by primary key per query at start
  std::chrono::milliseconds retry{1000};  // after a failed store query
  size_t max_queued = 200000;  // cursors; beyond this the head reloads
};

// The memory part of one page.
struct HeadScan {
  std::vector<PresenterItem> items;  // in page order, at most the wanted count
  // Set when the scan went below everything the head holds: the page goes on
  // in the store with rows whose key is at or below this one (inclusive).
  std::optional<PageCursor> continue_at_or_below;
};

struct HeadStats {
  std::atomic<uint64_t> applied{0};   // rows applied from the feed
  std::atomic<uint64_t> evicted{0};
  std::atomic<uint64_t> loads{0};
  std::atomic<uint64_t> errors{0};    // failed store queries (retried)
};

class PresenterHead {
 public:
  PresenterHead(const PresenterReader& reader, events::EventFeed& feed, HeadOptions options);
  ~PresenterHead();
  PresenterHead(const PresenterHead&) = delete;
  PresenterHead& operator=(const PresenterHead&) = delete;

  void start();  // subscribes to the feed and starts loading
  void stop();   // idempotent

  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Waits (at most `timeout`) until every batch queued so far is applied:
  // a list() after it reflects what the feed had published. False on timeout.
  bool sync(std::chrono::milliseconds timeout) const;

  // Items of `query` strictly below query.after (or from the top), up to
  // `want`; nullopt when the head cannot answer (not ready, or the cursor is
  // at or below the floor: the store answers alone).
  std::optional<HeadScan> scan(const ListQuery& query, size_t want) const;

  size_t size() const;
  const HeadStats& stats() const { return stats_; }

  // Applies rows directly (tests; the thread does the same with fetched rows).
  void apply(std::vector<PresenterItem> rows);

 private:
  struct Entry {
    PresenterItem item;
    std::vector<std::pair<std::string, std::string>> labels;  // raw.involvedObject.labels
  };
  using Key = std::pair<int64_t, std::string>;  // (created_ns, global_uid): page order

  void run();
  void load();
  void insertLocked(PresenterItem item);
  void evictLocked();
  void onBatch(const events::FeedBatch& batch);

  const PresenterReader& reader_;
  events::EventFeed& feed_;
  const HeadOptions options_;
  HeadStats stats_;
  std::atomic<bool> ready_{false};

  mutable std::shared_mutex index_mutex_;  // entries_, order_, floor_
  std::unordered_map<std::string, Entry> entries_;  // by global_uid
  std::set<Key> order_;
  std::optional<Key> floor_;  // the highest key that left; everything above is here

  mutable std::mutex queue_mutex_;  // queue_, queued_, applied_seq_, stopping_
  mutable std::condition_variable queue_cv_;
  std::deque<events::FeedBatch> queue_;  // events published ahead of the store carry their row
  size_t queued_cursors_ = 0;
  uint64_t queued_seq_ = 0, applied_seq_ = 0;
  bool stopping_ = false;
  bool reload_ = false;

  std::optional<uint64_t> subscription_;
  std::thread thread_;
};

// SQL ILIKE semantics for the `name` filter: '%' any run, '_' one character,
// '\' escapes; case folded for ASCII (Kubernetes object names are ASCII).
bool ilikeMatch(std::string_view pattern, std::string_view text);

}  // namespace kobs::serve::presenter
