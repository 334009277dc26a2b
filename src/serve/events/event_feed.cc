#include "serve/events/event_feed.h"

#include "common/logging.h"

#include <algorithm>
#include <climits>

namespace kobs::serve::events {

EventFeed::EventFeed(const EventReader& reader, FeedOptions options) : reader_(reader), options_(options) {}

EventFeed::~EventFeed() { stop(); }

void EventFeed::start() {
  started_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  const EventCursor start = reader_.maxCursor();
  {
    std::lock_guard lock(mutex_);
    high_ = start;
  }
  // Rows already inside the lookback window are history, not late arrivals.
  if (options_.lookback.count() > 0 && !start.isZero()) {
    std::lock_guard lock(publish_mutex_);
    const int64_t low = start.ingest_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(options_.lookback).count();
    for (const auto& c : reader_.cursorsBetween(low, start)) recent_.insert(c);
    recent_floor_ = low;
  }
  thread_ = std::thread([this] { run(); });
  // Always: local publishing may be turned on after start() (kobs all starts
  // the feed before the pipeline whose seal listener feeds it); idle until a
  // local batch arrives.
  local_thread_ = std::thread([this] { runLocal(); });
}

void EventFeed::stop() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  local_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (local_thread_.joinable()) local_thread_.join();
}

void EventFeed::wake() {
  {
    std::lock_guard lock(wake_mutex_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

std::pair<uint64_t, EventCursor> EventFeed::subscribe(Listener listener) {
  auto subscriber = std::make_shared<Subscriber>(std::move(listener));
  std::lock_guard lock(mutex_);
  const uint64_t id = next_id_++;
  listeners_.emplace(id, std::move(subscriber));
  return {id, high_};
}

void EventFeed::unsubscribe(uint64_t id) {
  std::shared_ptr<Subscriber> subscriber;
  {
    std::lock_guard lock(mutex_);
    auto it = listeners_.find(id);
    if (it == listeners_.end()) return;
    subscriber = std::move(it->second);
    listeners_.erase(it);
  }
  // A fan-out that took its snapshot before the erase may be calling it now.
  std::lock_guard lock(subscriber->mutex);
  subscriber->active = false;
}

size_t EventFeed::subscribers() const {
  std::lock_guard lock(mutex_);
  return listeners_.size();
}

EventCursor EventFeed::highWater() const {
  std::lock_guard lock(mutex_);
  return high_;
}

void EventFeed::run() {
  auto log = logging::get("events.feed");
  auto next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
  while (true) {
    {
      std::unique_lock lock(wake_mutex_);
      wake_cv_.wait_until(lock, next_poll, [&] { return woken_ || stopping_; });
      if (stopping_) return;
      woken_ = false;
    }
    next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
    try {
      // Local publishing opens once the gate is true *and* a tail step ran
      // after it: the rows the buffer replayed are then published, and a
      // local batch cannot move H past them.
      bool opening = false;
      if (!localActive() && localEnabled()) {
        std::function<bool()> gate;
        {
          std::lock_guard lock(local_mutex_);
          gate = local_gate_;
        }
        opening = !gate || gate();
      }
      pollOnce();
      if (opening) {
        {
          std::lock_guard lock(wake_mutex_);
          local_open_.store(true, std::memory_order_release);
        }
        local_cv_.notify_all();
      }
    } catch (const std::exception& e) {
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      log->warn("events feed: store query failed ({}); retrying", e.what());
    }
  }
}

void EventFeed::runLocal() {
  while (true) {
    {
      std::unique_lock lock(wake_mutex_);
      local_cv_.wait(lock, [&] { return stopping_ || (local_ready_ && localActive()); });
      if (stopping_) return;
      local_ready_ = false;
    }
    publishLocalQueued();
  }
}

void EventFeed::enableLocal(std::function<bool()> ready) {
  std::lock_guard lock(local_mutex_);
  local_on_ = true;
  local_gate_ = std::move(ready);
}

bool EventFeed::localActive() const { return local_open_.load(std::memory_order_acquire); }

bool EventFeed::localEnabled() const {
  std::lock_guard lock(local_mutex_);
  return local_on_;
}

void EventFeed::publishLocal(int64_t ingest_ns, std::vector<std::shared_ptr<const LocalEvent>> events) {
  {
    std::lock_guard lock(local_mutex_);
    local_queue_.push_back(LocalBatch{ingest_ns, std::move(events)});
  }
  {
    std::lock_guard lock(wake_mutex_);
    local_ready_ = true;
  }
  local_cv_.notify_all();
}

void EventFeed::localStored(int64_t ingest_ns, const std::vector<std::shared_ptr<const LocalEvent>>& events) {
  // By cursor, not by ingest time: batches sealed while the sender is busy
  // share one and may be stored by different inserts.
  std::lock_guard lock(local_mutex_);
  for (const auto& l : events) {
    EventCursor c = l->row.cursor;
    c.ingest_ns = ingest_ns;
    if (!unstored_.erase(c)) stored_early_.insert(c);  // not published yet: publishLocalQueued() skips it
  }
}

std::vector<std::shared_ptr<const FeedEvent>> EventFeed::unstoredAfter(const EventCursor& after, size_t limit) const {
  std::vector<std::shared_ptr<const FeedEvent>> out;
  std::lock_guard lock(local_mutex_);
  for (auto it = unstored_.upper_bound(after); it != unstored_.end() && out.size() < limit; ++it)
    out.push_back(it->second);
  return out;
}

std::shared_ptr<const FeedEvent> EventFeed::unstoredAt(const EventCursor& cursor) const {
  std::lock_guard lock(local_mutex_);
  auto it = unstored_.find(cursor);
  return it == unstored_.end() ? nullptr : it->second;
}

void EventFeed::publishLocalQueued() {
  std::lock_guard publish_lock(publish_mutex_);
  if (!local_open_.load(std::memory_order_acquire)) return;
  const EventCursor published = highWater();
  for (;;) {
    LocalBatch local;
    {
      std::lock_guard lock(local_mutex_);
      if (local_queue_.empty()) return;
      local = std::move(local_queue_.front());
      local_queue_.pop_front();
    }
    FeedBatch batch;
    batch.reserve(local.events.size());
    const EventCursor high = highWater();
    for (const auto& l : local.events) {
      auto e = std::make_shared<FeedEvent>();
      e->row = l->row;
      e->row.cursor.ingest_ns = local.ingest_ns;
      // Batches sharing an ingest time order by the rows' times: one that
      // falls below what went out is late (its streams keep their position).
      e->late = e->row.cursor <= high;
      e->json = sseK8sEventJson(e->row);
      e->local = l;
      batch.push_back(std::move(e));
    }
    std::sort(batch.begin(), batch.end(), [](const auto& a, const auto& b) { return a->row.cursor < b->row.cursor; });
    // Rows the tail already published (stored while local publishing
    // waited): those it remembers, and below what it forgot, any at or
    // below H (without a lookback, H is all there is).
    FeedBatch fresh;
    fresh.reserve(batch.size());
    std::vector<EventCursor> skipped;
    for (auto& e : batch) {
      const EventCursor& c = e->row.cursor;
      const bool seen = options_.lookback.count() > 0
                            ? recent_.count(c) > 0 || (c.ingest_ns < recent_floor_ && c <= published)
                            : c <= published;
      if (seen) skipped.push_back(c);
      else fresh.push_back(std::move(e));
    }
    batch = std::move(fresh);
    stats_.late.fetch_add(std::count_if(batch.begin(), batch.end(), [](const auto& e) { return e->late; }),
                          std::memory_order_relaxed);
    {
      // Into the unstored set before any stream can learn of them.
      std::lock_guard lock(local_mutex_);
      for (const auto& c : skipped) stored_early_.erase(c);
      for (const auto& e : batch)
        if (!stored_early_.erase(e->row.cursor)) unstored_.emplace(e->row.cursor, e);
    }
    if (options_.lookback.count() > 0)
      for (const auto& e : batch) recent_.insert(e->row.cursor);
    stats_.published_local.fetch_add(batch.size(), std::memory_order_relaxed);
    publish(std::move(batch));
  }
}

void EventFeed::publish(FeedBatch batch) {
  if (batch.empty()) return;
  // The high-water mark moves and the subscribers are listed under one lock,
  // so a subscriber either was listed (and gets the batch) or subscribed
  // after, with an H that covers the batch ("published before"). The calls
  // run outside that lock; publications are serialized by pollOnce().
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& e : batch)
      if (e->row.cursor > high_) high_ = e->row.cursor;
    targets.reserve(listeners_.size());
    for (const auto& [id, subscriber] : listeners_) targets.push_back(subscriber);
  }
  stats_.published.fetch_add(batch.size(), std::memory_order_relaxed);
  for (const auto& subscriber : targets) {
    std::lock_guard lock(subscriber->mutex);
    if (subscriber->active) subscriber->listener(batch);
  }
}

void EventFeed::pollOnce() {
  // The queries run outside publish_mutex_, so a local batch never waits
  // behind one; what they return is sorted out under it: a row published
  // meanwhile (in recent_) is skipped, a row of another writer that a local
  // batch overtook (at or below H now) goes out as late.
  std::lock_guard poll_lock(poll_mutex_);
  stats_.polls.fetch_add(1, std::memory_order_relaxed);
  const int64_t recovered_below = localEnabled() ? started_ns_ : 0;
  const bool check = options_.lookback.count() > 0;
  auto make = [recovered_below](StoredEvent row, bool late) {
    auto e = std::make_shared<FeedEvent>();
    e->json = sseK8sEventJson(row);
    e->row = std::move(row);
    e->late = late;
    e->recovered = e->row.cursor.ingest_ns < recovered_below;
    return std::shared_ptr<const FeedEvent>(std::move(e));
  };
  auto publishRows = [&](std::vector<StoredEvent> rows, bool late_below_high) {
    std::lock_guard publish_lock(publish_mutex_);
    const EventCursor high = highWater();
    FeedBatch batch;
    batch.reserve(rows.size());
    size_t late = 0;
    for (auto& r : rows) {
      if (check && !recent_.insert(r.cursor).second) continue;
      const bool below = r.cursor <= high;
      if (below && !check) continue;  // no record of what went out: H is all there is
      const bool is_late = late_below_high || below;
      late += is_late;
      batch.push_back(make(std::move(r), is_late));
    }
    stats_.late.fetch_add(late, std::memory_order_relaxed);
    publish(std::move(batch));
  };
  // 1. Everything above the high-water mark, page by page.
  while (true) {
    auto rows = reader_.after(highWater(), options_.page_rows);
    const bool full = rows.size() == options_.page_rows;
    publishRows(std::move(rows), false);
    if (!full) break;
  }
  if (!check) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_lookback_ < options_.lookback_every) return;
  last_lookback_ = now;

  // 2. Rows that became visible below the mark since the last run.
  const EventCursor high = highWater();
  if (high.isZero()) return;
  const int64_t low = high.ingest_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(options_.lookback).count();
  {
    std::lock_guard publish_lock(publish_mutex_);
    recent_.erase(recent_.begin(), recent_.lower_bound(EventCursor{low, 0, 0}));
    recent_floor_ = std::max(recent_floor_, low);
  }
  std::vector<EventCursor> missing;
  const auto listed = reader_.cursorsBetween(low, high);
  {
    std::lock_guard publish_lock(publish_mutex_);
    for (const auto& c : listed)
      if (!recent_.count(c)) missing.push_back(c);
  }
  if (missing.empty()) return;
  publishRows(reader_.byCursors(missing), true);
}

}  // namespace kobs::serve::events
