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
// Local publishing (kobs all, when the events view takes ingest_time from
// kobs's inserts): the pipeline hands over each logs batch's events as soon
// as the batch is durable in the disk buffer (publishLocal(), built by
// local_event.h with the cursor the store will give them), and the feed
// thread publishes them at once, ahead of the store. Until the sender
// reports the batch committed (localStored()), its events stay in an
// in-memory "unstored" set that replays read beside the store
// (unstoredAfter/unstoredAt), so a stream resuming from, or registering
// above, a row the store does not have yet misses nothing. Their cursors
// enter the late-row set, so the tail never publishes them again; the tail
// then only catches rows written by other processes (no wake per commit).
// A row the tail finds with an ingest time from before this process
// started, while local publishing is on, is marked `recovered`: a batch of
// the disk buffer replayed after a restart, which the previous process may
// have published already (streams skip it below their position).
//
// Threading: the feed thread runs the tail's queries; with local publishing
// a second thread publishes the local batches, so an event never waits
// behind a store query (they run outside the publish lock, which only
// orders publications). Both call the subscribers' callbacks, one
// publication at a time (which must not block: they queue to StreamWriters,
// and must not call unsubscribe()). subscribe(), unsubscribe(), wake(), highWater() are
// thread-safe. The listeners are called outside the lock subscribe() takes,
// so an SSE stream opening or closing never waits behind a fan-out;
// unsubscribe() waits at most for its own listener's call in flight, after
// which the listener is never called again. A failing store is logged and
// retried on the next tick; H stays.
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "serve/events/event_reader.h"
#include "serve/events/local_event.h"

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
  bool recovered = false;  // see "Local publishing" above
  std::shared_ptr<const LocalEvent> local;  // set when published ahead of the store
};
using FeedBatch = std::vector<std::shared_ptr<const FeedEvent>>;

struct FeedStats {
  std::atomic<uint64_t> polls{0};
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> late{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> published_local{0};  // published ahead of the store
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

  // Turns local publishing on (before or after start()): see above. Local batches
  // wait (queued, not yet unstored) until `ready()` is true and a tail step
  // ran after that (on the feed thread): the batches the disk buffer replays
  // after a restart must reach the store, and the tail publish them, before
  // newer ones move H past them.
  void enableLocal(std::function<bool()> ready);
  bool localEnabled() const;
  // Local publishing is on and past its wait: commits need no tail query.
  bool localActive() const;

  // Any thread, must not block (the batcher's sealing thread): the events
  // of one durable batch, whose rows the store will give `ingest_ns`
  // (LocalEvent cursors without it). Published on the feed thread, in order.
  void publishLocal(int64_t ingest_ns, std::vector<std::shared_ptr<const LocalEvent>> events);
  // Any thread: the batch with `ingest_ns` is in the store (or set aside);
  // its events leave the unstored set. May come before publishLocal().
  void localStored(int64_t ingest_ns, const std::vector<std::shared_ptr<const LocalEvent>>& events);
  // Events published ahead of the store and not yet reported stored, with a
  // cursor above `after`, ascending, at most `limit`. Read it before the
  // store: an event leaves this set only once the store has it.
  std::vector<std::shared_ptr<const FeedEvent>> unstoredAfter(const EventCursor& after, size_t limit) const;
  std::shared_ptr<const FeedEvent> unstoredAt(const EventCursor& cursor) const;

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

  void run();       // the tail (feed thread)
  void runLocal();  // local batches (local thread)
  void publish(FeedBatch batch);  // under publish_mutex_
  void publishLocalQueued();

  const EventReader& reader_;
  const FeedOptions options_;
  FeedStats stats_;

  mutable std::mutex mutex_;  // listeners_, high_; never held while a listener runs
  std::map<uint64_t, std::shared_ptr<Subscriber>> listeners_;
  uint64_t next_id_ = 1;
  EventCursor high_;

  std::mutex poll_mutex_;  // one pollOnce at a time; guards last_lookback_
  std::chrono::steady_clock::time_point last_lookback_{};
  std::mutex publish_mutex_;  // one publication at a time; guards recent_
  std::set<EventCursor> recent_;  // published cursors within the lookback window
  int64_t recent_floor_ = INT64_MIN;  // recent_ forgot the cursors with an older ingest time

  // Local publishing (see above).
  struct LocalBatch {
    int64_t ingest_ns;
    std::vector<std::shared_ptr<const LocalEvent>> events;
  };
  mutable std::mutex local_mutex_;  // local_queue_, unstored_, stored_early_, local_on_
  std::deque<LocalBatch> local_queue_;
  std::map<EventCursor, std::shared_ptr<const FeedEvent>> unstored_;
  std::set<EventCursor> stored_early_;  // events reported stored before they were published
  bool local_on_ = false;
  std::function<bool()> local_gate_;
  std::atomic<bool> local_open_{false};
  int64_t started_ns_ = 0;  // wall clock at start()

  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;   // the feed thread
  std::condition_variable local_cv_;  // the local thread
  bool woken_ = false;
  bool local_ready_ = false;  // local_queue_ has batches; guarded by wake_mutex_
  bool stopping_ = false;
  std::thread thread_;
  std::thread local_thread_;
};

}  // namespace kobs::serve::events
