#include "serve/stream/replay_live_hub.h"

#include <algorithm>
#include <set>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "common/logging.h"

namespace kobs::serve::stream {
namespace {

using Frame = http::StreamWriter::Frame;

// Which frames of an event a stream takes: bit f for frame f.
using FrameMask = uint8_t;

FrameMask maskFor(const StreamFormat& format, const StreamEvent& e, const StreamFilter& filter) {
  if (filter.composition_id && *filter.composition_id != e.composition_id) return 0;
  FrameMask m = 0;
  const int n = format.frames(e);
  for (int f = 0; f < n; ++f) {
    const std::string_view topic = format.topic(e, f);
    if (filter.topics.empty() || std::find(filter.topics.begin(), filter.topics.end(), topic) != filter.topics.end())
      m |= FrameMask(1u << f);
  }
  return m;
}

void appendMasked(const StreamFormat& format, const StreamEvent& e, FrameMask mask, std::string& out,
                  const std::string* id_override) {
  const int n = format.frames(e);
  for (int f = 0; f < n; ++f) {
    if (!(mask & (1u << f))) continue;
    out += "event: ";
    out += format.topic(e, f);
    out += "\ndata: ";
    out += e.data;
    out += "\nid: ";
    out += id_override ? *id_override : format.id(e.cursor, f);
    out += "\n\n";
  }
}

// Streams with the same filter take the same frames of every event: the key
// of that filter (topics as a set, then the composition).
std::string filterKey(const StreamFilter& filter) {
  std::vector<std::string> topics = filter.topics;
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  std::string key;
  for (const auto& t : topics) {
    key += t;
    key += '\n';
  }
  key += filter.composition_id ? "\x01" + *filter.composition_id : std::string("\x02");
  return key;
}

const Frame& keepaliveFrame() {
  static const Frame frame = std::make_shared<const std::string>(": keepalive\n\n");
  return frame;
}

}  // namespace

void appendFrames(const StreamFormat& format, const StreamEvent& e, const StreamFilter& filter, std::string& out,
                  int first_frame, const std::string* id_override) {
  FrameMask m = maskFor(format, e, filter);
  if (first_frame > 0) m &= FrameMask(~((1u << first_frame) - 1));
  appendMasked(format, e, m, out, id_override);
}

// One live batch as the dispatcher hands it to every stream: the events, and
// the frame blocks built so far for it, keyed by what a stream takes (one
// mask per event). Dispatcher thread only.
struct ReplayLiveHub::BatchFrames {
  const StreamFormat& format;
  const EventBatch& events;
  HubStats& stats;
  bool ascending = true;  // cursors strictly increasing
  std::unordered_map<std::string, std::string> by_filter;  // filter key -> its selection
  std::unordered_map<std::string, Frame> built;            // selection -> its block (null: takes nothing)

  // The selection of an unscoped stream's filter, computed once per filter.
  const std::string& selection(const std::string& filter_key, const StreamFilter& filter) {
    auto [it, fresh] = by_filter.try_emplace(filter_key);
    if (fresh) {
      it->second.resize(events.size());
      for (size_t i = 0; i < events.size(); ++i)
        it->second[i] = static_cast<char>(maskFor(format, *events[i], filter));
    }
    return it->second;
  }

  // The block of the frames `sel` (one mask per event, a prefix of the
  // batch) picks, built once per distinct selection; null when it picks none.
  const Frame& block(const std::string& sel) {
    auto [it, fresh] = built.try_emplace(sel);
    if (!fresh) return it->second;
    std::string out;
    for (size_t i = 0; i < sel.size(); ++i)
      if (sel[i]) appendMasked(format, *events[i], FrameMask(sel[i]), out, nullptr);
    if (!out.empty()) {
      it->second = std::make_shared<const std::string>(std::move(out));
      stats.frames_built.fetch_add(1, std::memory_order_relaxed);
    }
    return it->second;
  }
};

class ReplayLiveHub::Session {
 public:
  Session(const StreamFormat& format, std::shared_ptr<http::StreamWriter> writer, StreamRequest request)
      : format_(format), writer_(std::move(writer)), filter_(std::move(request.filter)),
        scope_(std::move(request.scope)), held_(request.resume.has_value()) {
    if (!scope_) key_ = filterKey(filter_);
    if (request.resume) {
      sent_ = request.resume->cursor;
      replay_ = std::make_unique<Replay>();
      replay_->resume = *request.resume;
    }
  }

  http::StreamWriter& writer() { return *writer_; }

  // Dispatcher thread. True when the stream now holds events whose namespace
  // needs a scope resolution: the caller schedules resolveHeld() on the pool.
  bool deliver(BatchFrames& batch, HubStats& stats) {
    std::lock_guard lock(mutex_);
    const EventBatch& events = batch.events;
    if (held_) {
      pending_.insert(pending_.end(), events.begin(), events.end());
      return false;
    }
    size_t upto = events.size();
    std::string selection;  // scoped streams: their own masks
    if (scope_) {
      selection.resize(events.size());
      for (size_t i = 0; i < events.size(); ++i) {
        const auto v = scope_->verdict(events[i]->ns);
        if (!v) {
          upto = i;
          break;
        }
        selection[i] = static_cast<char>(*v ? maskFor(format_, *events[i], filter_) : 0);
      }
      selection.resize(upto);
    }
    if (upto > 0 && batch.ascending && events.front()->cursor > sent_) {
      // In order for this stream (the usual case): the shared block.
      const Frame& block = batch.block(scope_ ? selection : batch.selection(key_, filter_));
      if (block) {
        writer_->write(block);
        stats.frames_shared.fetch_add(1, std::memory_order_relaxed);
      }
      sent_ = events[upto - 1]->cursor;
    } else if (upto > 0) {
      std::string out;
      for (size_t i = 0; i < upto; ++i)
        appendOne(*events[i], scope_ ? FrameMask(selection[i]) : maskFor(format_, *events[i], filter_), out);
      if (!out.empty()) writer_->write(std::move(out));
    }
    if (upto == events.size()) return false;
    pending_.assign(events.begin() + static_cast<long>(upto), events.end());
    held_ = true;
    return true;
  }

  // Pool thread: one page of the replay (resume point -> high). Returns true
  // once caught up (the held live events then go out through resolveHeld()).
  // Throws when the stream is closed or the scope cannot answer.
  bool replayStep(const events::EventCursor& high, size_t page) {
    Replay& r = *replay_;  // one step of a session runs at a time
    std::string out;
    if (!r.started) {
      r.started = true;
      r.from = r.resume.cursor;
      // The rest of the event the client saw only the first frame of.
      if (r.resume.frames_seen < 2) {
        if (auto e = format_.at(r.resume.cursor)) {
          if (replayAllowed(e->ns, r)) appendFrames(format_, *e, filter_, out, r.resume.frames_seen);
          r.replayed.insert(e->cursor);
        }
      }
    }
    bool caught_up = !(r.from < high);
    if (!caught_up) {
      const auto rows = format_.after(r.from, page);
      for (const auto& e : rows) {
        if (e->cursor > high) {
          caught_up = true;
          break;
        }
        r.replayed.insert(e->cursor);
        r.from = e->cursor;
        sent_ = std::max(sent_, e->cursor);  // the dispatcher leaves sent_ alone while held_
        if (replayAllowed(e->ns, r)) appendMasked(format_, *e, maskFor(format_, *e, filter_), out, nullptr);
      }
      if (rows.size() < page || !(r.from < high)) caught_up = true;
    }
    if (!out.empty() && !writer_->write(std::move(out))) throw std::runtime_error("stream closed");
    if (!caught_up) return false;
    std::lock_guard lock(mutex_);
    std::erase_if(pending_, [&](const EventPtr& e) {
      return r.replayed.count(e->cursor) || e->cursor <= r.resume.cursor;  // replayed, or seen before the resume
    });
    replay_.reset();
    return true;
  }

  // Pool thread: decides the namespaces of the held events and sends them, in
  // order; returns when nothing is held. Throws when the scope cannot answer
  // or the stream is closed.
  void resolveHeld() {
    for (;;) {
      std::vector<std::string> unknown;
      if (scope_) {
        std::lock_guard lock(mutex_);
        for (const auto& e : pending_)
          if (!scope_->verdict(e->ns) && std::find(unknown.begin(), unknown.end(), e->ns) == unknown.end())
            unknown.push_back(e->ns);
      }
      std::map<std::string, bool> fresh;
      if (!unknown.empty()) fresh = scope_->resolve(unknown);
      std::lock_guard lock(mutex_);
      std::string out;
      size_t n = 0;
      for (; n < pending_.size(); ++n) {
        const StreamEvent& e = *pending_[n];
        bool allowed = true;
        if (scope_) {
          auto v = scope_->verdict(e.ns);
          if (!v) {
            auto f = fresh.find(e.ns);
            if (f == fresh.end()) break;  // arrived meanwhile: another round
            v = f->second;
          }
          allowed = *v;
        }
        appendOne(e, allowed ? maskFor(format_, e, filter_) : 0, out);
      }
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(n));
      const bool done = pending_.empty();
      if (done) {
        held_ = false;
        EventBatch().swap(pending_);
      }
      // Written under the lock, like deliver(): frames stay in order.
      if (!out.empty() && !writer_->write(std::move(out))) throw std::runtime_error("stream closed");
      if (done) return;
    }
  }

 private:
  struct Replay {
    events::ResumePoint resume;
    bool started = false;
    events::EventCursor from;
    std::set<events::EventCursor> replayed;
    std::map<std::string, bool> resolved;  // this replay's own answers (the scope's cache may be off)
  };

  bool replayAllowed(const std::string& ns, Replay& r) {
    if (!scope_) return true;
    if (auto v = scope_->verdict(ns)) return *v;
    auto f = r.resolved.find(ns);
    if (f != r.resolved.end()) return f->second;
    auto answer = scope_->resolve({ns});  // throws: the replay ends, the stream closes
    const bool v = answer.count(ns) && answer[ns];
    r.resolved[ns] = v;
    return v;
  }

  // One event on this stream's own bytes (caller holds mutex_). An event
  // below what the stream sent (a late row) carries the stream's position.
  void appendOne(const StreamEvent& e, FrameMask mask, std::string& out) {
    if (e.cursor > sent_) {
      sent_ = e.cursor;
      appendMasked(format_, e, mask, out, nullptr);
    } else if (mask && !e.recovered) {
      const std::string id = format_.id(sent_, 1);
      appendMasked(format_, e, mask, out, &id);
    }
  }

  const StreamFormat& format_;
  const std::shared_ptr<http::StreamWriter> writer_;
  const StreamFilter filter_;
  std::string key_;  // filterKey(filter_) for unscoped streams
  const std::shared_ptr<StreamScope> scope_;
  std::mutex mutex_;
  bool held_;               // replaying or resolving: live events go to pending_
  EventBatch pending_;
  events::EventCursor sent_;  // the stream's position: the largest cursor it went past
  std::unique_ptr<Replay> replay_;  // while replaying (pool only)
};

ReplayLiveHub::ReplayLiveHub(HubOptions options, StreamFormat& format)
    : options_(std::move(options)), format_(format), pool_(std::max<size_t>(1, options_.replay_threads)) {
  keepalive_ = std::thread([this] { keepaliveLoop(); });
}

ReplayLiveHub::~ReplayLiveHub() { stop(); }

void ReplayLiveHub::attach(events::EventFeed& feed) {
  auto [id, high] = feed.subscribe([inbox = inbox_](const events::FeedBatch& batch) {
    {
      std::lock_guard lock(inbox->mutex);
      if (inbox->stop) return;
      inbox->batches.push_back(batch);
    }
    inbox->cv.notify_one();
  });
  {
    std::lock_guard lock(sessions_mutex_);
    high_ = high;
    feed_ = &feed;
    subscription_ = id;
  }
  dispatcher_ = std::thread([this] { dispatchLoop(); });
}

bool ReplayLiveHub::attached() const {
  std::lock_guard lock(sessions_mutex_);
  return feed_ != nullptr;
}

std::string ReplayLiveHub::preamble() const {
  std::string p = ": connected\n\n";
  if (options_.retry.count() > 0) p += fmt::format("retry: {}\n\n", options_.retry.count());
  return p;
}

void ReplayLiveHub::open(std::shared_ptr<http::StreamWriter> writer, StreamRequest request) {
  const bool resume = request.resume.has_value();
  auto session = std::make_shared<Session>(format_, writer, std::move(request));
  events::EventCursor high;
  {
    std::lock_guard lock(sessions_mutex_);
    if (stopping_ || !feed_) {
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
  if (resume) postReplayStep(std::move(session), high);
}

void ReplayLiveHub::postReplayStep(std::shared_ptr<Session> session, events::EventCursor high) {
  boost::asio::post(pool_, [this, session = std::move(session), high] {
    if (session->writer().closed()) return;
    try {
      if (!session->replayStep(high, options_.replay_page_rows)) return postReplayStep(session, high);
      session->resolveHeld();
    } catch (const std::exception& e) {
      logging::get(options_.log_name)->info("replay ended: {}", e.what());
      session->writer().close();
    }
  });
}

void ReplayLiveHub::postResolve(std::shared_ptr<Session> session) {
  boost::asio::post(pool_, [this, session = std::move(session)] {
    try {
      session->resolveHeld();
    } catch (const std::exception& e) {
      // Fail closed: the reconnect is checked again, and replays what this missed.
      logging::get(options_.log_name)->info("stream closed: {}", e.what());
      session->writer().close();
    }
  });
}

void ReplayLiveHub::dispatch(const events::FeedBatch& feed_batch) {
  EventBatch events;
  try {
    events = format_.live(feed_batch);
  } catch (const std::exception& e) {
    // Streams miss these live; a reconnect with the last id replays them.
    stats_.live_errors.fetch_add(1, std::memory_order_relaxed);
    logging::get(options_.log_name)->error("cannot read {} published events: {}", feed_batch.size(), e.what());
    return;
  }
  if (events.empty()) return;
  BatchFrames batch{format_, events, stats_};
  events::EventCursor top = events.front()->cursor;
  for (size_t i = 1; i < events.size(); ++i) {
    if (!(events[i - 1]->cursor < events[i]->cursor)) batch.ascending = false;
    top = std::max(top, events[i]->cursor);
  }
  // Note `high` and copy the list under the lock; the fan-out runs outside
  // it, so open() and close never wait behind it.
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard lock(sessions_mutex_);
    if (stopping_) return;
    high_ = std::max(high_, top);
    sessions.reserve(sessions_.size());
    for (auto& [k, s] : sessions_) sessions.push_back(s);
  }
  stats_.batches.fetch_add(1, std::memory_order_relaxed);
  for (auto& s : sessions)
    if (s->deliver(batch, stats_)) postResolve(s);
}

void ReplayLiveHub::dispatchLoop() {
  for (;;) {
    events::FeedBatch batch;
    {
      std::unique_lock lock(inbox_->mutex);
      inbox_->cv.wait(lock, [&] { return inbox_->stop || !inbox_->batches.empty(); });
      if (inbox_->stop) return;
      batch = std::move(inbox_->batches.front());
      inbox_->batches.pop_front();
    }
    dispatch(batch);
  }
}

size_t ReplayLiveHub::streams() const {
  std::lock_guard lock(sessions_mutex_);
  return sessions_.size();
}

void ReplayLiveHub::keepaliveLoop() {
  std::unique_lock lock(keepalive_mutex_);
  while (!keepalive_stop_) {
    keepalive_cv_.wait_for(lock, options_.keepalive, [&] { return keepalive_stop_; });
    if (keepalive_stop_) break;
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard s(sessions_mutex_);
      live.reserve(sessions_.size());
      for (auto& [k, v] : sessions_) live.push_back(v);
    }
    lock.unlock();
    for (auto& s : live) s->writer().write(keepaliveFrame());
    live.clear();
    lock.lock();
  }
}

void ReplayLiveHub::stop() {
  std::vector<std::shared_ptr<Session>> live;
  events::EventFeed* feed = nullptr;
  {
    std::lock_guard lock(sessions_mutex_);
    if (stopping_) return;
    stopping_ = true;
    feed = feed_;
    for (auto& [k, v] : sessions_) live.push_back(v);
  }
  if (feed) feed->unsubscribe(subscription_);
  {
    std::lock_guard lock(inbox_->mutex);
    inbox_->stop = true;
    inbox_->batches.clear();
  }
  inbox_->cv.notify_all();
  {
    std::lock_guard lock(keepalive_mutex_);
    keepalive_stop_ = true;
  }
  keepalive_cv_.notify_all();
  if (keepalive_.joinable()) keepalive_.join();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& s : live) s->writer().close();
  pool_.join();
}

EventBatch mergeUnstored(const EventBatch& unstored, const EventBatch& stored, size_t limit) {
  if (unstored.empty()) return stored;
  EventBatch out;
  out.reserve(std::min(limit, unstored.size() + stored.size()));
  size_t i = 0, j = 0;
  while (out.size() < limit && (i < unstored.size() || j < stored.size())) {
    if (j == stored.size() || (i < unstored.size() && unstored[i]->cursor < stored[j]->cursor)) {
      out.push_back(unstored[i++]);
    } else {
      if (i < unstored.size() && !(stored[j]->cursor < unstored[i]->cursor)) ++i;  // both: one copy
      out.push_back(stored[j++]);
    }
  }
  // A full store page ends the answer: rows beyond it may lie below later unstored events.
  if (stored.size() >= limit && !out.empty() && stored.back()->cursor < out.back()->cursor)
    while (!out.empty() && stored.back()->cursor < out.back()->cursor) out.pop_back();
  return out;
}

}  // namespace kobs::serve::stream
