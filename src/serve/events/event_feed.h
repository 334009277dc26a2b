// EventFeed: one tailer per process that turns new rows of the events table
// into in-memory events for every live SSE stream.
//
// It keeps a high-water cursor H (everything at or below it has been
// published) and, each time it runs:
//   1. reads rows with cursor > H in cursor order, a page at a time, and
//      publishes them (H advances);
//   2. when `lookback` > 0, lists the cursors with ingest_time in
//      [H.ingest - lookback, H] and publishes any it has not published before:
//      rows that became visible late (several writers, clock skew between
//      cluster nodes). A row visible more than `lookback` after its
//      ingest_time is missed live (it is still served by /events and by a
//      replay that starts before it).
// (1) runs when woken (kobs all: the pipeline's commit listener calls wake()),
// and every `poll_interval` regardless (kobs serve: another process writes);
// (2) with it, at most every `lookback_every`.
// Published events are never published twice: (1) is strictly above H and
// (2) checks a set of the cursors published within the lookback window.
// H starts at the newest stored row: history is served by replay, not pushed.
//
// Threading: one feed thread runs the queries and calls the subscribers'
// callbacks (which must not block: they queue to StreamWriters, and must not
// call unsubscribe()). subscribe(), unsubscribe(), wake(), highWater() are
// thread-safe. The listeners are called outside the lock subscribe() takes,
// so an SSE stream opening or closing never waits behind a fan-out;
// unsubscribe() waits at most for its own listener's call in flight, after
// which the listener is never called again. A failing store is logged and
// retried on the next tick; H stays.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "serve/events/event_reader.h"

namespace kobs::serve::events {

struct FeedOptions {
  std::chrono::milliseconds poll_interval{500};
  std::chrono::milliseconds lookback{5000};  // 0: no late-row check
  // The late-row check (2) runs at most this often, not after every wake: a
  // burst of commits in `kobs all` then costs one tail query each, and an
  // event never waits behind a lookback query. Must stay well under lookback.
  std::chrono::milliseconds lookback_every{250};
  size_t page_rows = 1000;
};

// One published event: the row and its JSON, built once for every stream.
struct FeedEvent {
  StoredEvent row;
  std::string json;
  bool late = false;  // published after an event with a larger cursor
};
using FeedBatch = std::vector<std::shared_ptr<const FeedEvent>>;

struct FeedStats {
  std::atomic<uint64_t> polls{0};
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> late{0};
  std::atomic<uint64_t> errors{0};
};

class EventFeed {
 public:
  using Listener = std::function<void(const FeedBatch&)>;

  EventFeed(const EventReader& reader, FeedOptions options);
  ~EventFeed();
  EventFeed(const EventFeed&) = delete;
  EventFeed& operator=(const EventFeed&) = delete;

  // Reads the starting high-water mark (throws when the store fails) and
  // starts the feed thread.
  void start();
  void stop();  // idempotent

  // Run now (new rows were committed).
  void wake();

  // Registers a listener. Returns its id and the high-water mark at that
  // instant: every row at or below it was published before the listener was
  // added; every later publication reaches the listener.
  std::pair<uint64_t, EventCursor> subscribe(Listener listener);
  void unsubscribe(uint64_t id);
  size_t subscribers() const;

  EventCursor highWater() const;
  const FeedStats& stats() const { return stats_; }

  // One tail step on the caller's thread (tests; the feed thread runs the same).
  void pollOnce();

 private:
  // One subscriber: its own lock is held while it is called, so
  // unsubscribe() can wait for that call alone and then switch it off.
  struct Subscriber {
    explicit Subscriber(Listener l) : listener(std::move(l)) {}
    std::mutex mutex;
    bool active = true;  // guarded by mutex
    Listener listener;
  };

  void run();
  void publish(FeedBatch batch);

  const EventReader& reader_;
  const FeedOptions options_;
  FeedStats stats_;

  mutable std::mutex mutex_;  // listeners_, high_; never held while a listener runs
  std::map<uint64_t, std::shared_ptr<Subscriber>> listeners_;
  uint64_t next_id_ = 1;
  EventCursor high_;

  std::mutex poll_mutex_;  // one pollOnce at a time; guards recent_
  std::set<EventCursor> recent_;  // published cursors within the lookback window
  std::chrono::steady_clock::time_point last_lookback_{};  // guarded by poll_mutex_

  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kobs::serve::events
