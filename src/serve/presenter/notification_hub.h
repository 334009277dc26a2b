// NotificationHub: the live streams of the presenter's GET /notifications.
//
// Frames: "event: krateo\ndata: <item without raw>\nid: <stream cursor>\n\n"
// (the same "<ingest>-<ts>-<key>" cursor the old API's ids carry, URL-safe, so
// event-source-polyfill's ?lastEventId= round-trips it).
//
// Source: the process's one EventFeed (no second tailer). The hub subscribes
// once; the feed thread only queues batches; the hub's dispatcher thread
// reads the presenter columns of each batch's rows once (one query by
// cursors) and hands the items to every stream. `high` is the largest cursor
// dispatched: a stream registered under the sessions lock has seen, through
// the feed, nothing above it and will see everything dispatched later.
//
// Resume (?lastEventId= / Last-Event-ID): as in events/sse_hub.h, the stream
// registers first (learning `high`), holds live items back, replays rows
// after the resume point up to `high` from the store, then sends the held-back
// items it did not replay: no gap, no duplicate. A late row (below what the
// stream has sent) is sent with the stream's latest id.
//
// Scoping (authorization, optional per stream): a StreamScope says which
// namespaces the stream may see. Live items are checked against its
// non-blocking verdict(); an item whose namespace has no fresh verdict holds
// the stream (later items queue behind it, as during a replay) while the
// hub's pool asks resolve(), then the held items go out in order. Replayed
// rows are checked the same way (resolve() runs inline there, on the pool).
// When resolve() throws (the authority cannot answer) the stream is closed:
// fail closed; the client's reconnect is refused until it answers, and its
// Last-Event-ID replays what it missed. A denied item still advances the
// stream's id (it would be denied on replay too).
//
// Threading: open() never blocks (replays and scope resolutions run on a
// small pool); one dispatcher thread, one keepalive thread. attach() once,
// before open().
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "serve/events/event_feed.h"
#include "http/stream_writer.h"
#include "serve/presenter/presenter_reader.h"

namespace kobs::serve::presenter {

struct NotificationOptions {
  std::chrono::milliseconds keepalive{25000};  // the polyfill reconnects after 45 s of silence
  std::chrono::milliseconds retry{3000};       // `retry:` hint; 0: none
  size_t replay_page_rows = 1000;
  size_t replay_threads = 2;
};

// One dispatched event.
struct StreamItem {
  events::EventCursor cursor;
  std::string composition_id;
  std::string json;  // itemJson(item, false)
  std::string ns;    // the involved object's namespace (scoping)
};

// Which namespaces one stream may see (see "Scoping" above).
class StreamScope {
 public:
  virtual ~StreamScope() = default;
  // Never blocks: the verdict for `ns` if known and fresh, else nullopt.
  virtual std::optional<bool> verdict(const std::string& ns) const = 0;
  // May block (runs on the hub's pool): decides these namespaces. Throws
  // when it cannot; the stream is then closed.
  virtual std::map<std::string, bool> resolve(const std::vector<std::string>& namespaces) = 0;
};

class NotificationHub {
 public:
  explicit NotificationHub(NotificationOptions options);
  ~NotificationHub();
  NotificationHub(const NotificationHub&) = delete;
  NotificationHub& operator=(const NotificationHub&) = delete;

  // Subscribes to the feed; both must outlive the hub's streams.
  void attach(const PresenterReader& reader, events::EventFeed& feed);
  bool attached() const;

  // ": connected\n\n" and the retry hint.
  std::string preamble() const;

  // `scope` null: every namespace.
  void open(std::shared_ptr<http::StreamWriter> writer, std::optional<std::string> composition_id,
            std::optional<events::EventCursor> resume, std::shared_ptr<StreamScope> scope = nullptr);

  size_t streams() const;
  void stop();  // idempotent

  class Session;

 private:
  void dispatchLoop();
  void keepaliveLoop();
  void dispatch(const events::FeedBatch& batch);

  const NotificationOptions options_;
  boost::asio::thread_pool replay_pool_;

  const PresenterReader* reader_ = nullptr;
  events::EventFeed* feed_ = nullptr;
  uint64_t subscription_ = 0;

  mutable std::mutex sessions_mutex_;  // sessions_, high_
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions_;
  events::EventCursor high_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<events::FeedBatch> queue_;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread dispatcher_;
  std::thread keepalive_;
};

std::string notificationFrame(const StreamItem& item, const std::string& id);

}  // namespace kobs::serve::presenter
