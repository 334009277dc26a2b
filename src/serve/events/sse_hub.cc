#include "serve/events/sse_hub.h"

#include <algorithm>
#include <set>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "common/logging.h"

namespace kobs::serve::events {
namespace {

bool wants(const std::vector<std::string>& topics, std::string_view topic) {
  return topics.empty() || std::find(topics.begin(), topics.end(), topic) != topics.end();
}

}  // namespace

std::string eventFrames(const StoredEvent& row, const std::string& json, const std::vector<std::string>& topics,
                        int first_frame, const std::string* id_override, std::string* last_id) {
  std::string out;
  auto frame = [&](std::string_view topic, int n) {
    std::string id = id_override ? *id_override : frameId(row.cursor, n);
    out += "event: ";
    out += topic;
    out += "\ndata: ";
    out += json;
    out += "\nid: ";
    out += id;
    out += "\n\n";
    if (last_id) *last_id = std::move(id);
  };
  if (first_frame <= 0 && wants(topics, "krateo")) frame("krateo", 0);
  if (!row.composition_id.empty() && wants(topics, row.composition_id)) frame(row.composition_id, 1);
  return out;
}

class SseHub::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<http::StreamWriter> writer, StreamParams params)
      : writer_(std::move(writer)), params_(std::move(params)), replaying_(params_.resume.has_value()) {
    if (params_.resume) max_sent_ = params_.resume->cursor;
  }

  http::StreamWriter& writer() { return *writer_; }

  // Feed thread.
  void onBatch(const FeedBatch& batch) {
    std::lock_guard lock(mutex_);
    if (replaying_) {
      pending_.insert(pending_.end(), batch.begin(), batch.end());
      return;
    }
    std::string out;
    for (const auto& e : batch) appendLive(*e, out);
    if (!out.empty()) writer_->write(std::move(out));
  }

  // Replay pool thread: one page of the replay (resume point -> H), then,
  // once caught up, the held-back events. Returns true when the stream is
  // live. A replay is run a page per task so that a client resuming from a
  // small gap is not queued behind one replaying thousands of rows.
  bool replayStep(const EventReader& reader, const EventCursor& high, size_t page) {
    const ResumePoint& resume = *params_.resume;
    std::string out;
    auto flush = [&] {
      if (!out.empty() && !writer_->write(std::move(out))) throw std::runtime_error("stream closed");
      out.clear();
    };
    if (!replay_started_) {
      replay_started_ = true;
      replay_from_ = resume.cursor;
      // The second frame of the event the client saw only half of.
      if (resume.frames_seen == 1) {
        for (auto& r : reader.byCursors({resume.cursor})) {
          out += eventFrames(r, sseK8sEventJson(r), params_.topics, 1, nullptr, &last_id_);
          replayed_.insert(r.cursor);
        }
      }
    }
    bool caught_up = !(replay_from_ < high);
    if (!caught_up) {
      auto rows = reader.after(replay_from_, page);
      for (auto& r : rows) {
        if (r.cursor > high) {
          caught_up = true;
          break;
        }
        out += eventFrames(r, sseK8sEventJson(r), params_.topics, 0, nullptr, &last_id_);
        replayed_.insert(r.cursor);
        replay_from_ = r.cursor;
        max_sent_ = std::max(max_sent_, r.cursor);
      }
      if (rows.size() < page || !(replay_from_ < high)) caught_up = true;
    }
    if (!caught_up) {
      flush();
      return false;
    }
    std::lock_guard lock(mutex_);
    for (const auto& e : pending_) {
      if (replayed_.count(e->row.cursor)) continue;
      if (e->row.cursor <= resume.cursor) continue;  // seen on the previous connection
      appendLive(*e, out);
    }
    pending_.clear();
    pending_.shrink_to_fit();
    replayed_.clear();
    replaying_ = false;
    flush();
    return true;
  }

  uint64_t subscription = 0;

 private:
  // Caller holds mutex_.
  void appendLive(const FeedEvent& e, std::string& out) {
    if (e.row.cursor > max_sent_) {
      out += eventFrames(e.row, e.json, params_.topics, 0, nullptr, &last_id_);
      max_sent_ = e.row.cursor;
    } else {
      // Late row: keep the stream's resume point where it is.
      const std::string id = last_id_.empty() ? frameId(max_sent_, 1) : last_id_;
      out += eventFrames(e.row, e.json, params_.topics, 0, &id, nullptr);
    }
  }

  std::shared_ptr<http::StreamWriter> writer_;
  const StreamParams params_;
  std::mutex mutex_;
  bool replaying_;
  FeedBatch pending_;
  EventCursor max_sent_;
  std::string last_id_;
  // Replay progress (replay pool; one step of a session runs at a time).
  bool replay_started_ = false;
  EventCursor replay_from_;
  std::set<EventCursor> replayed_;
};

SseHub::SseHub(SseOptions options)
    : options_(options), replay_pool_(std::max<size_t>(1, options.replay_threads)) {
  keepalive_ = std::thread([this] { keepaliveLoop(); });
}

SseHub::~SseHub() { stop(); }

std::string SseHub::preamble() const {
  std::string p = ": connected\n\n";
  if (options_.retry.count() > 0) p += fmt::format("retry: {}\n\n", options_.retry.count());
  return p;
}

void SseHub::open(const EventReader& reader, EventFeed& feed, std::shared_ptr<http::StreamWriter> writer,
                  StreamParams params) {
  const bool resume = params.resume.has_value();
  auto session = std::make_shared<Session>(writer, std::move(params));
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      writer->close();
      return;
    }
    sessions_.emplace(session.get(), session);
  }
  std::weak_ptr<Session> weak = session;
  auto [id, high] = feed.subscribe([weak](const FeedBatch& batch) {
    if (auto s = weak.lock()) s->onBatch(batch);
  });
  session->subscription = id;
  Session* key = session.get();
  // The hub holds the session until the stream ends.
  writer->onClose([this, &feed, id, key, keep = session] {
    feed.unsubscribe(id);
    std::lock_guard lock(mutex_);
    sessions_.erase(key);
  });
  if (!resume) return;
  postReplayStep(reader, session, high);
}

void SseHub::postReplayStep(const EventReader& reader, std::shared_ptr<Session> session, EventCursor high) {
  boost::asio::post(replay_pool_, [this, session = std::move(session), &reader, high] {
    try {
      if (!session->replayStep(reader, high, options_.replay_page_rows)) postReplayStep(reader, session, high);
    } catch (const std::exception& e) {
      logging::get("events.sse")->info("replay ended: {}", e.what());
      session->writer().close();
    }
  });
}

size_t SseHub::streams() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void SseHub::keepaliveLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.keepalive, [&] { return stopping_; });
    if (stopping_) break;
    std::vector<std::shared_ptr<Session>> live;
    for (auto& [k, w] : sessions_)
      if (auto s = w.lock()) live.push_back(std::move(s));
    lock.unlock();
    for (auto& s : live) s->writer().write(": keepalive\n\n");
    live.clear();
    lock.lock();
  }
}

void SseHub::stop() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !keepalive_.joinable()) return;
    stopping_ = true;
    for (auto& [k, w] : sessions_)
      if (auto s = w.lock()) live.push_back(std::move(s));
  }
  cv_.notify_all();
  if (keepalive_.joinable()) keepalive_.join();
  for (auto& s : live) s->writer().close();
  replay_pool_.join();
}

}  // namespace kobs::serve::events
