#include "serve/presenter/presenter_head.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "common/progress.h"
#include "serve/presenter/presenter_reader.h"

namespace kobs::serve::presenter {
namespace {

std::vector<std::pair<std::string, std::string>> involvedObjectLabels(const std::string& raw) {
  std::vector<std::pair<std::string, std::string>> out;
  if (raw.find("\"labels\"") == std::string::npos) return out;  // the common case, without parsing
  const auto doc = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return out;
  const auto obj = doc.find("involvedObject");
  if (obj == doc.end() || !obj->is_object()) return out;
  const auto labels = obj->find("labels");
  if (labels == obj->end() || !labels->is_object()) return out;
  for (const auto& [k, v] : labels->items())
    if (v.is_string()) out.emplace_back(k, v.get<std::string>());
  return out;
}

char fold(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

}  // namespace

bool ilikeMatch(std::string_view p, std::string_view t) {
  // Iterative wildcard match with single-star backtracking: linear in
  // practice, no recursion on hostile patterns.
  size_t pi = 0, ti = 0, star_p = std::string_view::npos, star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '%') {
      star_p = ++pi;
      star_t = ti;
      continue;
    }
    if (pi < p.size()) {
      bool escaped = p[pi] == '\\' && pi + 1 < p.size();
      const char pc = escaped ? p[pi + 1] : p[pi];
      if ((!escaped && pc == '_') || fold(pc) == fold(t[ti])) {
        pi += escaped ? 2 : 1;
        ++ti;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    ti = ++star_t;
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

PresenterHead::PresenterHead(const PresenterReader& reader, events::EventFeed& feed, HeadOptions options)
    : reader_(reader), feed_(feed), options_(options) {}

PresenterHead::~PresenterHead() { stop(); }

void PresenterHead::start() {
  subscription_ = feed_.subscribe([this](const events::FeedBatch& batch) { onBatch(batch); }).first;
  thread_ = std::thread([this] { run(); });
}

void PresenterHead::stop() {
  if (subscription_) {
    feed_.unsubscribe(*subscription_);
    subscription_.reset();
  }
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PresenterHead::onBatch(const events::FeedBatch& batch) {
  {
    std::lock_guard lock(queue_mutex_);
    queued_cursors_ += batch.size();
    queue_.push_back(batch);
    ++queued_seq_;
    if (queued_cursors_ > options_.max_queued) reload_ = true;  // the store is far behind: start over
  }
  queue_cv_.notify_all();
}

bool PresenterHead::sync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(queue_mutex_);
  const uint64_t target = queued_seq_;
  return queue_cv_.wait_for(lock, timeout, [&] { return applied_seq_ >= target || stopping_; }) && !stopping_;
}

size_t PresenterHead::size() const {
  std::shared_lock lock(index_mutex_);
  return entries_.size();
}

void PresenterHead::run() {
  auto log = logging::get("presenter.head");
  bool loaded = false;
  while (true) {
    events::FeedBatch batch;
    uint64_t seq = 0;
    {
      std::unique_lock lock(queue_mutex_);
      if (stopping_) return;
      if (reload_) {
        queue_.clear();
        queued_cursors_ = 0;
        applied_seq_ = queued_seq_;
        reload_ = false;
        loaded = false;
      }
      if (loaded) {
        queue_cv_.wait(lock, [&] { return stopping_ || reload_ || !queue_.empty(); });
        if (stopping_) return;
        if (reload_) continue;
        batch = queue_.front();
        seq = applied_seq_ + 1;
      }
    }
    try {
      if (!loaded) {
        ready_.store(false, std::memory_order_release);
        load();
        loaded = true;
        ready_.store(true, std::memory_order_release);
        log->info("events-presenter head loaded: {} events in memory", size());
        continue;
      }
      std::vector<PresenterItem> items;
      std::vector<events::EventCursor> cursors;
      for (const auto& e : batch) {
        if (auto it = itemFromFeed(*e, reader_.defaultCluster(), /*with_raw=*/true)) items.push_back(std::move(*it));
        else cursors.push_back(e->row.cursor);
      }
      if (!cursors.empty())
        for (auto& it : reader_.byCursors(cursors, /*with_raw=*/true)) items.push_back(std::move(it));
      apply(std::move(items));
      std::lock_guard lock(queue_mutex_);
      if (reload_) continue;  // the queue was dropped meanwhile
      if (!queue_.empty()) {
        queued_cursors_ -= queue_.front().size();
        queue_.pop_front();
      }
      applied_seq_ = seq;
      queue_cv_.notify_all();
    } catch (const std::exception& e) {
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      log->warn("events-presenter head: store query failed ({}); retrying", e.what());
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait_for(lock, options_.retry, [&] { return stopping_; });
    }
  }
}

void PresenterHead::load() {
  stats_.loads.fetch_add(1, std::memory_order_relaxed);
  {
    std::unique_lock lock(index_mutex_);
    entries_.clear();
    order_.clear();
    floor_.reset();
  }
  // One more than fits: when there are more events than the capacity, the
  // extra one leaves at once and becomes the floor.
  const auto keys = reader_.newestEventKeys(options_.capacity + 1);
  ProgressLog progress("presenter", "loading the newest events into the presenter head", keys.size(), "events");
  for (size_t i = 0; i < keys.size(); i += options_.load_chunk) {
    std::vector<RowKey> chunk(keys.begin() + i, keys.begin() + std::min(keys.size(), i + options_.load_chunk));
    apply(reader_.byRowKeys(chunk));  // evicts the extra one as it comes
    progress.add(chunk.size());
  }
  if (keys.size() > options_.load_chunk) progress.finish();  // a closing line only when there was a wait
}

void PresenterHead::apply(std::vector<PresenterItem> rows) {
  std::unique_lock lock(index_mutex_);
  for (auto& r : rows) insertLocked(std::move(r));
  while (entries_.size() > options_.capacity) evictLocked();
  stats_.applied.fetch_add(rows.size(), std::memory_order_relaxed);
}

void PresenterHead::insertLocked(PresenterItem item) {
  Key key{item.created_ns, item.global_uid};
  auto it = entries_.find(item.global_uid);
  if (it == entries_.end()) {
    // An event not here whose row is at or below the floor: the store has it
    // (and maybe newer rows of it below the floor too).
    if (floor_ && key <= *floor_) return;
    Entry e;
    e.labels = involvedObjectLabels(item.raw);
    e.item = std::move(item);
    order_.insert(key);
    entries_.emplace(key.second, std::move(e));
    return;
  }
  // The newest row of an event, as the store orders them: (ts, row_key).
  const PresenterItem& have = it->second.item;
  if (std::pair(item.created_ns, item.cursor.key) <= std::pair(have.created_ns, have.cursor.key)) return;
  order_.erase(Key{have.created_ns, have.global_uid});
  order_.insert(key);
  it->second.labels = involvedObjectLabels(item.raw);
  it->second.item = std::move(item);
}

void PresenterHead::evictLocked() {
  if (order_.empty()) return;
  auto lowest = order_.begin();
  floor_ = *lowest;
  entries_.erase(lowest->second);
  order_.erase(lowest);
  stats_.evicted.fetch_add(1, std::memory_order_relaxed);
}

std::optional<HeadScan> PresenterHead::scan(const ListQuery& q, size_t want) const {
  if (!ready()) return std::nullopt;
  std::shared_lock lock(index_mutex_);
  std::optional<Key> below;
  if (q.after) {
    below = Key{q.after->created_ns, q.after->global_uid};
    if (floor_ && *below <= *floor_) return std::nullopt;
  }
  const std::string pattern = q.name ? nameFilterPattern(*q.name) : std::string();
  auto matches = [&](const Entry& e) {
    const PresenterItem& it = e.item;
    if (q.cluster && it.cluster_name != *q.cluster) return false;
    if (q.ns && it.ns != *q.ns) return false;
    if (q.kind && it.kind != *q.kind) return false;
    if (q.since_ns && it.created_ns < *q.since_ns) return false;
    if (q.allowed_namespaces &&
        std::find(q.allowed_namespaces->begin(), q.allowed_namespaces->end(), it.ns) == q.allowed_namespaces->end())
      return false;
    if (q.name && !ilikeMatch(pattern, it.name)) return false;
    for (const auto& [k, v] : q.labels) {
      auto l = std::find_if(e.labels.begin(), e.labels.end(), [&](const auto& kv) { return kv.first == k; });
      if (l == e.labels.end() || l->second != v) return false;
    }
    return true;
  };
  HeadScan out;
  auto it = below ? order_.lower_bound(*below) : order_.end();
  while (it != order_.begin() && out.items.size() < want) {
    --it;
    // Past `since`, nothing further down can match.
    if (q.since_ns && it->first < *q.since_ns) return out;
    const Entry& e = entries_.at(it->second);
    if (matches(e)) out.items.push_back(e.item);
  }
  if (out.items.size() < want && it == order_.begin() && floor_)
    out.continue_at_or_below = PageCursor{floor_->first, floor_->second};
  return out;
}

}  // namespace kobs::serve::presenter
