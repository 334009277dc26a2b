// NotificationHub: the presenter's GET /notifications, on the shared
// replay-then-live streams (serve/stream/replay_live_hub.h: resume, seam,
// late rows, scoping, shared frames, keepalives, slow clients are described
// there).
//
// Frames: "event: krateo\ndata: <item without raw>\nid: <stream cursor>\n\n"
// (the same "<ingest>-<ts>-<key>" cursor the old API's ids carry, URL-safe, so
// event-source-polyfill's ?lastEventId= round-trips it). `composition_id`
// narrows a stream to one composition; a StreamScope to the namespaces its
// user may see.
//
// Source: the process's one EventFeed (no second tailer). The hub's
// dispatcher reads the presenter columns of each published batch's rows once
// (one query by cursors, retried twice) for every stream; replays read the
// same columns page by page.
//
// Threading: as the shared hub's (open() never blocks; one dispatcher and one
// keepalive thread, replays and scope resolutions on a small pool). attach()
// once, before open().
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "http/stream_writer.h"
#include "serve/events/event_feed.h"
#include "serve/presenter/presenter_reader.h"
#include "serve/stream/replay_live_hub.h"

namespace kobs::serve::presenter {

struct NotificationOptions {
  std::chrono::milliseconds keepalive{25000};  // the polyfill reconnects after 45 s of silence
  std::chrono::milliseconds retry{3000};       // `retry:` hint; 0: none
  size_t replay_page_rows = 1000;
  size_t replay_threads = 2;
};

using StreamScope = stream::StreamScope;

// The presenter's frames and rows.
class NotificationFormat final : public stream::StreamFormat {
 public:
  void attach(const PresenterReader& reader, const events::EventFeed* feed = nullptr) {
    reader_ = &reader;
    feed_ = feed;
  }

  stream::EventBatch live(const events::FeedBatch& batch) override;
  stream::EventBatch after(const events::EventCursor& after, size_t limit) const override;
  stream::EventPtr at(const events::EventCursor& cursor) const override;
  int frames(const stream::StreamEvent&) const override { return 1; }
  std::string_view topic(const stream::StreamEvent&, int) const override { return "krateo"; }
  std::string id(const events::EventCursor& cursor, int) const override { return cursor.str(); }

 private:
  const PresenterReader* reader_ = nullptr;
  const events::EventFeed* feed_ = nullptr;  // its unstored events join replays
};

class NotificationHub {
 public:
  explicit NotificationHub(NotificationOptions options);
  ~NotificationHub();
  NotificationHub(const NotificationHub&) = delete;
  NotificationHub& operator=(const NotificationHub&) = delete;

  // Subscribes to the feed; both must outlive the hub's streams.
  void attach(const PresenterReader& reader, events::EventFeed& feed);
  bool attached() const { return hub_.attached(); }

  // ": connected\n\n" and the retry hint.
  std::string preamble() const { return hub_.preamble(); }

  // `scope` null: every namespace.
  void open(std::shared_ptr<http::StreamWriter> writer, std::optional<std::string> composition_id,
            std::optional<events::EventCursor> resume, std::shared_ptr<StreamScope> scope = nullptr);

  size_t streams() const { return hub_.streams(); }
  const stream::HubStats& stats() const { return hub_.stats(); }
  void stop() { hub_.stop(); }  // idempotent

 private:
  NotificationFormat format_;
  stream::ReplayLiveHub hub_;
};

}  // namespace kobs::serve::presenter
