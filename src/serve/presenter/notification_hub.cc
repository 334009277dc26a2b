#include "serve/presenter/notification_hub.h"

#include <map>
#include <thread>

namespace kobs::serve::presenter {
namespace {

stream::EventPtr toStreamEvent(const PresenterItem& it) {
  return std::make_shared<const stream::StreamEvent>(
      stream::StreamEvent{it.cursor, itemJson(it, false), it.composition_id, it.ns});
}

}  // namespace

stream::EventBatch NotificationFormat::live(const events::FeedBatch& batch) {
  std::vector<events::EventCursor> cursors;
  cursors.reserve(batch.size());
  for (const auto& e : batch) cursors.push_back(e->row.cursor);
  std::vector<PresenterItem> rows;
  for (int attempt = 0;; ++attempt) {
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
  for (const auto& e : batch)
    if (auto f = by_cursor.find(e->row.cursor); f != by_cursor.end()) out.push_back(toStreamEvent(*f->second));
  return out;
}

stream::EventBatch NotificationFormat::after(const events::EventCursor& after, size_t limit) const {
  stream::EventBatch out;
  for (const auto& r : reader_->after(after, limit)) out.push_back(toStreamEvent(r));
  return out;
}

stream::EventPtr NotificationFormat::at(const events::EventCursor& cursor) const {
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
  format_.attach(reader);
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
