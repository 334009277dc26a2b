#include "serve/presenter/notification_hub.h"

#include <map>
#include <thread>

namespace kobs::serve::presenter {
namespace {

stream::EventPtr toStreamEvent(const PresenterItem& it, bool recovered = false) {
  return std::make_shared<const stream::StreamEvent>(
      stream::StreamEvent{it.cursor, itemJson(it, false), it.composition_id, it.ns, recovered});
}

}  // namespace

stream::EventBatch NotificationFormat::live(const events::FeedBatch& batch) {
  // Events published ahead of the store carry their row; the others are read.
  std::vector<events::EventCursor> cursors;
  for (const auto& e : batch)
    if (!e->local) cursors.push_back(e->row.cursor);
  std::vector<PresenterItem> rows;
  for (int attempt = 0; !cursors.empty(); ++attempt) {
    try {
      rows = reader_->byCursors(cursors);
      break;
    } catch (const std::exception&) {
      if (attempt >= 2) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  std::map<events::EventCursor, const PresenterItem*> by_cursor;
  for (const auto& r : rows) by_cursor.emplace(r.cursor, &r);
  stream::EventBatch out;
  out.reserve(batch.size());
  for (const auto& e : batch) {
    if (auto it = itemFromFeed(*e, reader_->defaultCluster(), false)) out.push_back(toStreamEvent(*it));
    else if (auto f = by_cursor.find(e->row.cursor); f != by_cursor.end())
      out.push_back(toStreamEvent(*f->second, e->recovered));
  }
  return out;
}

stream::EventBatch NotificationFormat::after(const events::EventCursor& after, size_t limit) const {
  stream::EventBatch unstored;
  if (feed_)
    for (const auto& e : feed_->unstoredAfter(after, limit))
      if (auto it = itemFromFeed(*e, reader_->defaultCluster(), false)) unstored.push_back(toStreamEvent(*it));
  stream::EventBatch out;
  for (const auto& r : reader_->after(after, limit)) out.push_back(toStreamEvent(r));
  return stream::mergeUnstored(unstored, out, limit);
}

stream::EventPtr NotificationFormat::at(const events::EventCursor& cursor) const {
  if (feed_)
    if (auto e = feed_->unstoredAt(cursor))
      if (auto it = itemFromFeed(*e, reader_->defaultCluster(), false)) return toStreamEvent(*it);
  for (const auto& r : reader_->byCursors({cursor})) return toStreamEvent(r);
  return nullptr;
}

NotificationHub::NotificationHub(NotificationOptions options)
    : hub_(stream::HubOptions{.keepalive = options.keepalive,
                              .retry = options.retry,
                              .replay_page_rows = options.replay_page_rows,
                              .replay_threads = options.replay_threads,
                              .log_name = "presenter.sse"},
           format_) {}

NotificationHub::~NotificationHub() { hub_.stop(); }

void NotificationHub::attach(const PresenterReader& reader, events::EventFeed& feed) {
  format_.attach(reader, &feed);
  hub_.attach(feed);
}

void NotificationHub::open(std::shared_ptr<http::StreamWriter> writer, std::optional<std::string> composition_id,
                           std::optional<events::EventCursor> resume, std::shared_ptr<StreamScope> scope) {
  stream::StreamRequest request{.filter = {.composition_id = std::move(composition_id)}, .scope = std::move(scope)};
  // Presenter ids are whole events: a resume point is past every frame of it.
  if (resume) request.resume = events::ResumePoint{*resume, 2};
  hub_.open(std::move(writer), std::move(request));
}

}  // namespace kobs::serve::presenter
