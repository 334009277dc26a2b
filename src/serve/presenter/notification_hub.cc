#include "serve/presenter/notification_hub.h"

#include <algorithm>
#include <map>
#include <set>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "common/logging.h"

namespace kobs::serve::presenter {

std::string notificationFrame(const StreamItem& item, const std::string& id) {
  std::string out = "event: krateo\ndata: ";
  out += item.json;
  out += "\nid: ";
  out += id;
  out += "\n\n";
  return out;
}

namespace {
StreamItem toStreamItem(const PresenterItem& it) {
  return {it.cursor, it.composition_id, itemJson(it, false), it.ns};
}
}  // namespace

class NotificationHub::Session {
 public:
  Session(std::shared_ptr<http::StreamWriter> writer, std::optional<std::string> composition,
          std::optional<events::EventCursor> resume, std::shared_ptr<StreamScope> scope)
      : writer_(std::move(writer)), composition_(std::move(composition)), resume_(resume), scope_(std::move(scope)),
        replaying_(resume.has_value()) {
    if (resume) max_sent_ = *resume;
  }

  http::StreamWriter& writer() { return *writer_; }

  // Dispatcher thread. True when the stream now holds items whose namespace
  // needs a scope resolution: the caller schedules resolveHeld() on the pool.
  bool onItems(const std::vector<std::shared_ptr<const StreamItem>>& items) {
    std::lock_guard lock(mutex_);
    if (replaying_ || resolving_) {
      pending_.insert(pending_.end(), items.begin(), items.end());
      return false;
    }
    std::string out;
    bool hold = false;
    for (const auto& it : items) {
      if (!hold) {
        const auto v = verdict(it->ns);
        if (v) {
          appendLive(*it, *v, out);
          continue;
        }
        hold = true;
        resolving_ = true;
      }
      pending_.push_back(it);
    }
    if (!out.empty()) writer_->write(std::move(out));
    return hold;
  }

  void replay(const PresenterReader& reader, const events::EventCursor& high, size_t page) {
    std::set<events::EventCursor> replayed;
    std::string out;
    events::EventCursor from = *resume_;
    bool done = false;
    std::map<std::string, bool> resolved;  // this replay's own answers (the scope's cache may be off)
    while (!done && from < high) {
      auto rows = reader.after(from, page);
      for (auto& r : rows) {
        if (r.cursor > high) {
          done = true;
          break;
        }
        replayed.insert(r.cursor);
        from = r.cursor;
        max_sent_ = std::max(max_sent_, r.cursor);
        if (wants(r.composition_id) && replayAllowed(r.ns, resolved))
          out += notificationFrame(toStreamItem(r), r.cursor.str());
      }
      if (!out.empty() && !writer_->write(std::move(out))) throw std::runtime_error("stream closed");
      out.clear();
      if (rows.size() < page) break;
    }
    {
      std::lock_guard lock(mutex_);
      std::erase_if(pending_, [&](const auto& it) { return replayed.count(it->cursor) || it->cursor <= *resume_; });
      replaying_ = false;
      resolving_ = true;  // the held live items go out through resolveHeld(), in order
    }
    resolveHeld();
  }

  // Pool thread: decides the namespaces of the held items and sends them, in
  // order; returns when nothing is held. Throws when the scope cannot answer.
  void resolveHeld() {
    for (;;) {
      std::vector<std::string> unknown;
      {
        std::lock_guard lock(mutex_);
        for (const auto& it : pending_)
          if (!verdict(it->ns) && std::find(unknown.begin(), unknown.end(), it->ns) == unknown.end())
            unknown.push_back(it->ns);
      }
      std::map<std::string, bool> fresh;
      if (!unknown.empty()) fresh = scope_->resolve(unknown);
      std::lock_guard lock(mutex_);
      std::string out;
      size_t n = 0;
      for (; n < pending_.size(); ++n) {
        const auto& it = pending_[n];
        auto v = verdict(it->ns);
        if (!v) {
          auto f = fresh.find(it->ns);
          if (f == fresh.end()) break;  // arrived meanwhile: another round
          v = f->second;
        }
        appendLive(*it, *v, out);
      }
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(n));
      const bool done = pending_.empty();
      if (done) resolving_ = false;
      // Written under the lock, like onItems(): frames stay in order.
      if (!out.empty() && !writer_->write(std::move(out))) throw std::runtime_error("stream closed");
      if (done) return;
    }
  }

 private:
  bool wants(const std::string& composition) const { return !composition_ || *composition_ == composition; }

  std::optional<bool> verdict(const std::string& ns) const {
    if (!scope_) return true;
    return scope_->verdict(ns);
  }

  bool replayAllowed(const std::string& ns, std::map<std::string, bool>& resolved) {
    if (!scope_) return true;
    if (auto v = scope_->verdict(ns)) return *v;
    auto f = resolved.find(ns);
    if (f != resolved.end()) return f->second;
    auto answer = scope_->resolve({ns});  // throws: the replay ends, the stream closes
    const bool v = answer.count(ns) && answer[ns];
    resolved[ns] = v;
    return v;
  }

  // Caller holds mutex_.
  void appendLive(const StreamItem& it, bool allowed, std::string& out) {
    const bool in_order = it.cursor > max_sent_;
    if (in_order) max_sent_ = it.cursor;
    if (!allowed || !wants(it.composition_id)) return;
    // A late row keeps the stream's resume point where it is.
    out += notificationFrame(it, max_sent_.str());
  }

  std::shared_ptr<http::StreamWriter> writer_;
  const std::optional<std::string> composition_;
  const std::optional<events::EventCursor> resume_;
  const std::shared_ptr<StreamScope> scope_;
  std::mutex mutex_;
  bool replaying_;
  bool resolving_ = false;  // held behind a scope resolution
  std::vector<std::shared_ptr<const StreamItem>> pending_;
  events::EventCursor max_sent_;
};

NotificationHub::NotificationHub(NotificationOptions options)
    : options_(options), replay_pool_(std::max<size_t>(1, options.replay_threads)) {
  keepalive_ = std::thread([this] { keepaliveLoop(); });
}

NotificationHub::~NotificationHub() { stop(); }

void NotificationHub::attach(const PresenterReader& reader, events::EventFeed& feed) {
  reader_ = &reader;
  auto [id, high] = feed.subscribe([this](const events::FeedBatch& batch) {
    {
      std::lock_guard lock(queue_mutex_);
      queue_.push_back(batch);
    }
    queue_cv_.notify_one();
  });
  {
    std::lock_guard lock(sessions_mutex_);
    high_ = high;
    feed_ = &feed;
    subscription_ = id;
  }
  dispatcher_ = std::thread([this] { dispatchLoop(); });
}

bool NotificationHub::attached() const {
  std::lock_guard lock(sessions_mutex_);
  return feed_ != nullptr;
}

std::string NotificationHub::preamble() const {
  std::string p = ": connected\n\n";
  if (options_.retry.count() > 0) p += fmt::format("retry: {}\n\n", options_.retry.count());
  return p;
}

void NotificationHub::dispatch(const events::FeedBatch& batch) {
  std::vector<events::EventCursor> cursors;
  for (const auto& e : batch) cursors.push_back(e->row.cursor);
  std::vector<PresenterItem> rows;
  for (int attempt = 0;; ++attempt) {
    try {
      rows = reader_->byCursors(cursors);
      break;
    } catch (const std::exception& e) {
      if (attempt >= 2) {
        // Streams miss these live; a reconnect with the last id replays them.
        logging::get("presenter.sse")->error("cannot read {} published events: {}", cursors.size(), e.what());
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  std::map<events::EventCursor, const PresenterItem*> by_cursor;
  for (const auto& r : rows) by_cursor.emplace(r.cursor, &r);
  std::vector<std::shared_ptr<const StreamItem>> items;
  events::EventCursor top;
  for (const auto& e : batch) {
    auto f = by_cursor.find(e->row.cursor);
    if (f == by_cursor.end()) continue;
    items.push_back(std::make_shared<StreamItem>(toStreamItem(*f->second)));
    top = std::max(top, e->row.cursor);
  }
  std::lock_guard lock(sessions_mutex_);
  for (auto& [k, s] : sessions_)
    if (s->onItems(items)) {
      boost::asio::post(replay_pool_, [session = s] {
        try {
          session->resolveHeld();
        } catch (const std::exception& e) {
          // Fail closed: the reconnect is checked again, and replays what this missed.
          logging::get("presenter.sse")->info("stream closed: {}", e.what());
          session->writer().close();
        }
      });
    }
  high_ = std::max(high_, top);
}

void NotificationHub::dispatchLoop() {
  for (;;) {
    events::FeedBatch batch;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    dispatch(batch);
  }
}

void NotificationHub::open(std::shared_ptr<http::StreamWriter> writer, std::optional<std::string> composition_id,
                           std::optional<events::EventCursor> resume, std::shared_ptr<StreamScope> scope) {
  auto session = std::make_shared<Session>(writer, std::move(composition_id), resume, std::move(scope));
  events::EventCursor high;
  {
    std::lock_guard lock(sessions_mutex_);
    if (stopping_) {
      writer->close();
      return;
    }
    sessions_.emplace(session.get(), session);
    high = high_;
  }
  Session* key = session.get();
  writer->onClose([this, key] {
    std::lock_guard lock(sessions_mutex_);
    sessions_.erase(key);
  });
  if (!resume) return;
  boost::asio::post(replay_pool_, [session, reader = reader_, high, page = options_.replay_page_rows] {
    try {
      session->replay(*reader, high, page);
    } catch (const std::exception& e) {
      logging::get("presenter.sse")->info("replay ended: {}", e.what());
      session->writer().close();
    }
  });
}

size_t NotificationHub::streams() const {
  std::lock_guard lock(sessions_mutex_);
  return sessions_.size();
}

void NotificationHub::keepaliveLoop() {
  std::unique_lock lock(stop_mutex_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, options_.keepalive, [&] { return stopping_; });
    if (stopping_) break;
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard s(sessions_mutex_);
      for (auto& [k, v] : sessions_) live.push_back(v);
    }
    lock.unlock();
    for (auto& s : live) s->writer().write(": keepalive\n\n");
    live.clear();
    lock.lock();
  }
}

void NotificationHub::stop() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::scoped_lock lock(stop_mutex_, queue_mutex_, sessions_mutex_);
    if (stopping_ && !keepalive_.joinable() && !dispatcher_.joinable()) return;
    stopping_ = true;
    for (auto& [k, v] : sessions_) live.push_back(v);
  }
  if (feed_) feed_->unsubscribe(subscription_);
  stop_cv_.notify_all();
  queue_cv_.notify_all();
  if (keepalive_.joinable()) keepalive_.join();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& s : live) s->writer().close();
  replay_pool_.join();
}

}  // namespace kobs::serve::presenter
