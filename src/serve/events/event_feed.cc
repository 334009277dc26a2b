#include "serve/events/event_feed.h"

#include "common/logging.h"

namespace kobs::serve::events {

EventFeed::EventFeed(const EventReader& reader, FeedOptions options) : reader_(reader), options_(options) {}

EventFeed::~EventFeed() { stop(); }

void EventFeed::start() {
  const EventCursor start = reader_.maxCursor();
  {
    std::lock_guard lock(mutex_);
    high_ = start;
  }
  // Rows already inside the lookback window are history, not late arrivals.
  if (options_.lookback.count() > 0 && !start.isZero()) {
    std::lock_guard lock(poll_mutex_);
    const int64_t low = start.ingest_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(options_.lookback).count();
    for (const auto& c : reader_.cursorsBetween(low, start)) recent_.insert(c);
  }
  thread_ = std::thread([this] { run(); });
}

void EventFeed::stop() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
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
  while (true) {
    {
      std::unique_lock lock(wake_mutex_);
      wake_cv_.wait_for(lock, options_.poll_interval, [&] { return woken_ || stopping_; });
      if (stopping_) return;
      woken_ = false;
    }
    try {
      pollOnce();
    } catch (const std::exception& e) {
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      log->warn("events feed: store query failed ({}); retrying", e.what());
    }
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
  std::lock_guard poll_lock(poll_mutex_);
  stats_.polls.fetch_add(1, std::memory_order_relaxed);
  auto make = [](StoredEvent row, bool late) {
    auto e = std::make_shared<FeedEvent>();
    e->json = sseK8sEventJson(row);
    e->row = std::move(row);
    e->late = late;
    return std::shared_ptr<const FeedEvent>(std::move(e));
  };
  // 1. Everything above the high-water mark, page by page.
  while (true) {
    const EventCursor from = highWater();
    auto rows = reader_.after(from, options_.page_rows);
    const bool full = rows.size() == options_.page_rows;
    FeedBatch batch;
    batch.reserve(rows.size());
    for (auto& r : rows) {
      if (options_.lookback.count() > 0) recent_.insert(r.cursor);
      batch.push_back(make(std::move(r), false));
    }
    publish(std::move(batch));
    if (!full) break;
  }
  if (options_.lookback.count() <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_lookback_ < options_.lookback_every) return;
  last_lookback_ = now;

  // 2. Rows that became visible below the mark since the last run.
  const EventCursor high = highWater();
  const int64_t low = high.ingest_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(options_.lookback).count();
  recent_.erase(recent_.begin(), recent_.lower_bound(EventCursor{low, 0, 0}));
  if (high.isZero()) return;
  std::vector<EventCursor> missing;
  for (const auto& c : reader_.cursorsBetween(low, high))
    if (!recent_.count(c)) missing.push_back(c);
  if (missing.empty()) return;
  FeedBatch batch;
  for (auto& r : reader_.byCursors(missing)) {
    recent_.insert(r.cursor);
    batch.push_back(make(std::move(r), true));
  }
  stats_.late.fetch_add(batch.size(), std::memory_order_relaxed);
  publish(std::move(batch));
}

}  // namespace kobs::serve::events
