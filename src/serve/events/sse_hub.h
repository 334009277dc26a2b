// SseHub: the old proxy's SSE /notifications, on the shared replay-then-live
// streams (serve/stream/replay_live_hub.h: resume, seam, late rows, shared
// frames, keepalives, slow clients are described there).
//
// A stream gets, per event and topic, the frame
//   "event: <topic>\ndata: <SSEK8sEvent>\nid: <cursor>:<n>\n\n"
// (the old proxy's bytes plus an id line), topic `krateo` (n=0) and then the
// composition id (n=1) when the event has one; `topics` narrows that. The
// data is the feed's SSEK8sEvent JSON (built once per event by the feed);
// replays read the same rows through the EventReader.
//
// Threading: as the shared hub's (open() never blocks; one dispatcher and one
// keepalive thread, replays on a small pool). attach() once, before open().
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/stream_writer.h"
#include "serve/events/event_feed.h"
#include "serve/events/event_reader.h"
#include "serve/stream/replay_live_hub.h"

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

// The old API's frames and rows (exposed for tests).
class SseFormat final : public stream::StreamFormat {
 public:
  SseFormat() = default;
  void attach(const EventReader& reader, const EventFeed* feed = nullptr) {
    reader_ = &reader;
    feed_ = feed;
  }

  stream::EventBatch live(const FeedBatch& batch) override;
  stream::EventBatch after(const EventCursor& after, size_t limit) const override;
  stream::EventPtr at(const EventCursor& cursor) const override;
  int frames(const stream::StreamEvent& e) const override { return e.composition_id.empty() ? 1 : 2; }
  std::string_view topic(const stream::StreamEvent& e, int frame) const override {
    return frame == 0 ? std::string_view("krateo") : std::string_view(e.composition_id);
  }
  std::string id(const EventCursor& cursor, int frame) const override { return frameId(cursor, frame); }

 private:
  const EventReader* reader_ = nullptr;
  const EventFeed* feed_ = nullptr;  // its unstored events join replays
};

class SseHub {
 public:
  explicit SseHub(SseOptions options);
  ~SseHub();
  SseHub(const SseHub&) = delete;
  SseHub& operator=(const SseHub&) = delete;

  // The store is ready: subscribes to the feed. Both must outlive the streams.
  void attach(const EventReader& reader, EventFeed& feed);

  // The stream's first bytes: ": connected\n\n" then the retry hint.
  std::string preamble() const { return hub_.preamble(); }

  // Takes over a stream whose preamble was sent.
  void open(std::shared_ptr<http::StreamWriter> writer, StreamParams params);

  size_t streams() const { return hub_.streams(); }
  const stream::HubStats& stats() const { return hub_.stats(); }
  // Closes every stream and stops the threads (idempotent).
  void stop() { hub_.stop(); }

 private:
  SseFormat format_;
  stream::ReplayLiveHub hub_;
};

// The frames of one event for a stream (exposed for tests).
// `first_frame` 1 skips the krateo frame; `id_override` replaces the ids.
std::string eventFrames(const StoredEvent& row, const std::string& json, const std::vector<std::string>& topics,
                        int first_frame = 0, const std::string* id_override = nullptr);

}  // namespace kobs::serve::events
