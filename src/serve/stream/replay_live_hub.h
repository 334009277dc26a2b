// ReplayLiveHub: the SSE streams of both /notifications APIs (the old proxy's,
// serve/events/sse_hub.h, and the events-presenter's,
// serve/presenter/notification_hub.h): replay from the store, then live
// frames from the process's one EventFeed, with no gap and no duplicate at
// the seam. What differs between the two APIs is a StreamFormat (which frames
// an event has, their topics and ids, how rows are read); the rest is here.
//
// Frames: an event has one or two frames, each
//   "event: <topic>\ndata: <event data>\nid: <id>\n\n".
// A stream's filter picks frames by topic and events by composition id; a
// scope (optional) picks events by namespace.
//
// Live: the hub subscribes to the feed once (attach()). The feed thread only
// queues batches; the hub's dispatcher thread turns each into StreamEvents
// (format.live()) and hands them to every stream. `high` is the largest
// cursor dispatched: a stream registered under the hub's lock has seen,
// through the feed, nothing above it and will see everything dispatched
// later.
//
// Shared frames: a stream's bytes for a batch are decided by which frames of
// which events it takes (its selection: from its filter, computed once per
// distinct filter, or from its scope's verdicts). Streams with the same
// selection get the same bytes, built once per batch and queued to each as
// one StreamWriter::Frame (a shared, immutable string): an event is framed
// at most once per distinct filter, not once per client, and a client's
// queue holds pointers, not copies. stats().frames_built counts the blocks
// built, stats().frames_shared the blocks queued.
//
// Resume (Last-Event-ID / ?lastEventId=): the stream registers first
// (learning `high`) and holds live events back while it replays, from the
// store, the rows after the resume point up to `high` (a page per pool task:
// a reconnect storm shares the pool, and a short gap is not stuck behind a
// replay of thousands of rows); then it sends the held-back events it did not
// replay. A resume point inside an event (its first frame seen, not its
// second) starts with the rest of that event.
//
// Late rows: an event at or below what the stream has already sent (a row
// that became visible late) is still sent, with the id of the stream's
// position (format.id(sent, last frame)), so a later resume never goes
// backwards. An event the stream does not take still moves its position.
// A recovered event (a replayed disk-buffer batch, published before the
// restart) at or below the position is skipped instead.
//
// Unstored events (kobs all publishes events when their batch is durable,
// before the store has them; events/event_feed.h): a format's after() and
// at() read the feed's unstored set beside the store, so a replay up to
// `high` finds them.
//
// Scoping: live events are checked against the scope's non-blocking
// verdict(); an event whose namespace has no fresh verdict holds the stream
// (later events queue behind it, as during a replay) while the pool asks
// resolve(), then the held events go out in order. Replayed rows are checked
// the same way (resolve() runs inline there, on the pool). When resolve()
// throws, the stream is closed (fail closed: the reconnect is checked again,
// and its Last-Event-ID replays what it missed).
//
// Slow clients: frames go to the connection's bounded StreamWriter queue
// (frames and bytes); a full queue drops the connection (the client resumes
// by replay). Keepalives: one thread writes one shared ": keepalive\n\n"
// frame to every stream each period.
//
// Threading: open() runs on an io thread and never blocks: it takes the hub's
// lock, which the dispatcher holds only to note `high` and copy the list of
// streams (never during a fan-out). One dispatcher thread, one keepalive
// thread, a small pool for replays and scope resolutions. Per stream, a mutex
// orders the dispatcher's writes against its replay and resolutions.
// attach() once, before open(); stop() (idempotent) before the feed goes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "http/stream_writer.h"
#include "serve/events/event_feed.h"
#include "serve/events/k8s_event.h"

namespace kobs::serve::stream {

// One event as streams carry it, built once per hub and shared by every stream.
struct StreamEvent {
  events::EventCursor cursor;
  std::string data;            // the data: line (one line of JSON)
  std::string composition_id;  // "" when none
  std::string ns;              // the involved object's namespace (scoping)
  // FeedEvent::recovered: at or below a stream's position it was sent
  // before (by the process before a restart), so it is skipped, not sent late.
  bool recovered = false;
};
using EventPtr = std::shared_ptr<const StreamEvent>;
using EventBatch = std::vector<EventPtr>;

// What one API's streams carry and where their rows come from.
class StreamFormat {
 public:
  virtual ~StreamFormat() = default;
  // Dispatcher thread: a feed batch as this API's events, in the batch's
  // order (events it cannot find are left out). May block on the store;
  // throws when it cannot read them (the streams then miss them live; a
  // reconnect with the last id replays them).
  virtual EventBatch live(const events::FeedBatch& batch) = 0;
  // Pool: events strictly after `after`, in cursor order, at most `limit`.
  virtual EventBatch after(const events::EventCursor& after, size_t limit) const = 0;
  // Pool: the event with this cursor, or null (a resume inside an event).
  virtual EventPtr at(const events::EventCursor& cursor) const = 0;
  // Frames of an event (1 or 2), the topic of each, and their ids.
  virtual int frames(const StreamEvent& e) const = 0;
  virtual std::string_view topic(const StreamEvent& e, int frame) const = 0;
  virtual std::string id(const events::EventCursor& cursor, int frame) const = 0;
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

// Which frames one stream takes.
struct StreamFilter {
  std::vector<std::string> topics;            // frames with one of these topics; empty: every topic
  std::optional<std::string> composition_id;  // only this composition's events; nullopt: every event
};

struct StreamRequest {
  StreamFilter filter;
  // The last frame the client saw: its cursor, and how many of that event's
  // frames it saw (ResumePoint::frames_seen). nullopt: start live.
  std::optional<events::ResumePoint> resume;
  std::shared_ptr<StreamScope> scope;  // null: every namespace
};

struct HubOptions {
  std::chrono::milliseconds keepalive{25000};
  std::chrono::milliseconds retry{3000};  // the `retry:` hint; 0: none
  size_t replay_page_rows = 1000;
  size_t replay_threads = 2;
  std::string log_name = "sse";  // logger of this hub's messages
};

struct HubStats {
  std::atomic<uint64_t> batches{0};       // live batches dispatched
  std::atomic<uint64_t> frames_built{0};  // shared frame blocks built (one per batch and distinct selection)
  std::atomic<uint64_t> frames_shared{0}; // shared frame blocks queued to streams
  std::atomic<uint64_t> live_errors{0};   // batches the format could not read (missed live)
};

class ReplayLiveHub {
 public:
  // `format` must outlive the hub.
  ReplayLiveHub(HubOptions options, StreamFormat& format);
  ~ReplayLiveHub();
  ReplayLiveHub(const ReplayLiveHub&) = delete;
  ReplayLiveHub& operator=(const ReplayLiveHub&) = delete;

  // Subscribes to the feed (which must outlive the hub's streams) and starts
  // the dispatcher. Once.
  void attach(events::EventFeed& feed);
  bool attached() const;

  // The stream's first bytes: ": connected\n\n" then the retry hint.
  std::string preamble() const;

  // Takes over a stream whose preamble was sent.
  void open(std::shared_ptr<http::StreamWriter> writer, StreamRequest request);

  size_t streams() const;
  const HubStats& stats() const { return stats_; }
  // Closes every stream and stops the threads (idempotent).
  void stop();

  class Session;
  struct BatchFrames;

 private:
  void dispatchLoop();
  void keepaliveLoop();
  void dispatch(const events::FeedBatch& batch);
  void postReplayStep(std::shared_ptr<Session> session, events::EventCursor high);
  void postResolve(std::shared_ptr<Session> session);

  const HubOptions options_;
  StreamFormat& format_;
  HubStats stats_;
  boost::asio::thread_pool pool_;

  events::EventFeed* feed_ = nullptr;
  uint64_t subscription_ = 0;

  mutable std::mutex sessions_mutex_;  // sessions_, high_, feed_, stopping_
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions_;
  events::EventCursor high_;
  bool stopping_ = false;

  // What the feed thread hands over. Shared with the feed's listener, so a
  // listener call that races with stop() touches only this, never the hub.
  struct Inbox {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<events::FeedBatch> batches;
    bool stop = false;
  };
  const std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();

  std::mutex keepalive_mutex_;
  std::condition_variable keepalive_cv_;
  bool keepalive_stop_ = false;

  std::thread dispatcher_;
  std::thread keepalive_;
};

// A format's after() over the feed's unstored events (read before the
// store: see "Unstored events") and the store's rows: both merged by
// cursor, without duplicates, at most `limit`.
EventBatch mergeUnstored(const EventBatch& unstored, const EventBatch& stored, size_t limit);

// The frames of `e` a stream takes, as bytes: frames from `first_frame` on,
// those `filter` wants, each with id `id_override` when given (a late row),
// else format.id(cursor, frame). Exposed for the APIs' frame helpers.
void appendFrames(const StreamFormat& format, const StreamEvent& e, const StreamFilter& filter, std::string& out,
                  int first_frame = 0, const std::string* id_override = nullptr);

}  // namespace kobs::serve::stream
