// SseHub: the live SSE streams of /notifications and what feeds them.
//
// A stream gets, per event and topic, the frame
//   "event: <topic>\ndata: <SSEK8sEvent>\nid: <cursor>:<n>\n\n"
// (the old proxy's bytes plus an id line), topic `krateo` (n=0) and then the
// composition id (n=1) when the event has one; `topics` narrows that.
//
// Resume (Last-Event-ID): the stream subscribes to the feed first, learning
// the feed's high-water mark H; events published from then on are held back
// while the stream replays, from the store, every row after the resume point
// up to H; then the held-back events are sent, skipping any the replay already
// sent. So no event is missed or repeated at the seam. A row that turns up
// late (below a cursor already sent on this stream) is sent with the stream's
// latest id, so a later resume never goes backwards.
//
// Slow clients: frames go to the connection's bounded StreamWriter queue; a
// full queue drops the connection (the client resumes by replay).
//
// Threading: open() runs on an io thread and never blocks; replays run on the
// hub's own small thread pool, one page per task and re-queued (a reconnect
// storm shares the pool fairly; a short gap is not stuck behind a replay of
// thousands of rows); the feed thread delivers live events; one
// keepalive thread writes ": keepalive\n\n" to every stream each period.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "serve/events/event_feed.h"
#include "serve/events/event_reader.h"
#include "http/stream_writer.h"

namespace kobs::serve::events {

struct SseOptions {
  std::chrono::milliseconds keepalive{25000};
  std::chrono::milliseconds retry{3000};  // the `retry:` hint; 0: none
  size_t replay_page_rows = 1000;
  size_t replay_threads = 2;
};

struct StreamParams {
  std::vector<std::string> topics;    // empty: every topic
  std::optional<ResumePoint> resume;  // from Last-Event-ID / ?lastEventId=
};

class SseHub {
 public:
  explicit SseHub(SseOptions options);
  ~SseHub();
  SseHub(const SseHub&) = delete;
  SseHub& operator=(const SseHub&) = delete;

  // The stream's first bytes: ": connected\n\n" then the retry hint.
  std::string preamble() const;

  // Takes over a stream whose preamble was sent.
  void open(const EventReader& reader, EventFeed& feed, std::shared_ptr<http::StreamWriter> writer,
            StreamParams params);

  size_t streams() const;
  // Closes every stream and stops the threads (idempotent).
  void stop();

  class Session;

 private:
  void keepaliveLoop();
  // Queues the next page of a session's replay behind the other sessions'.
  void postReplayStep(const EventReader& reader, std::shared_ptr<Session> session, EventCursor high);

  const SseOptions options_;
  boost::asio::thread_pool replay_pool_;
  mutable std::mutex mutex_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread keepalive_;
};

// Builds the frames of one event for a stream (exposed for tests).
// `first_frame` 1 skips the krateo frame; `id_override` replaces the ids.
std::string eventFrames(const StoredEvent& row, const std::string& json, const std::vector<std::string>& topics,
                        int first_frame = 0, const std::string* id_override = nullptr, std::string* last_id = nullptr);

}  // namespace kobs::serve::events
