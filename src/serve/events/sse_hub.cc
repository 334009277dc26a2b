#include "serve/events/sse_hub.h"

namespace kobs::serve::events {
namespace {

stream::EventPtr toStreamEvent(const StoredEvent& row, std::string json, bool recovered = false) {
  return std::make_shared<const stream::StreamEvent>(
      stream::StreamEvent{row.cursor, std::move(json), row.composition_id, row.obj_namespace, recovered});
}

}  // namespace

stream::EventBatch SseFormat::live(const FeedBatch& batch) {
  stream::EventBatch out;
  out.reserve(batch.size());
  for (const auto& e : batch) out.push_back(toStreamEvent(e->row, e->json, e->recovered));
  return out;
}

stream::EventBatch SseFormat::after(const EventCursor& after, size_t limit) const {
  stream::EventBatch unstored;
  if (feed_)
    for (const auto& e : feed_->unstoredAfter(after, limit)) unstored.push_back(toStreamEvent(e->row, e->json));
  stream::EventBatch out;
  for (const auto& r : reader_->after(after, limit)) out.push_back(toStreamEvent(r, sseK8sEventJson(r)));
  return stream::mergeUnstored(unstored, out, limit);
}

stream::EventPtr SseFormat::at(const EventCursor& cursor) const {
  if (feed_)
    if (auto e = feed_->unstoredAt(cursor)) return toStreamEvent(e->row, e->json);
  for (const auto& r : reader_->byCursors({cursor})) return toStreamEvent(r, sseK8sEventJson(r));
  return nullptr;
}

std::string eventFrames(const StoredEvent& row, const std::string& json, const std::vector<std::string>& topics,
                        int first_frame, const std::string* id_override) {
  std::string out;
  SseFormat format;
  stream::appendFrames(format, *toStreamEvent(row, json), stream::StreamFilter{.topics = topics}, out, first_frame,
                       id_override);
  return out;
}

SseHub::SseHub(SseOptions options)
    : hub_(stream::HubOptions{.keepalive = options.keepalive,
                              .retry = options.retry,
                              .replay_page_rows = options.replay_page_rows,
                              .replay_threads = options.replay_threads,
                              .log_name = "events.sse"},
           format_) {}

SseHub::~SseHub() { hub_.stop(); }

void SseHub::attach(const EventReader& reader, EventFeed& feed) {
  format_.attach(reader, &feed);
  hub_.attach(feed);
}

void SseHub::open(std::shared_ptr<http::StreamWriter> writer, StreamParams params) {
  hub_.open(std::move(writer), stream::StreamRequest{.filter = {.topics = std::move(params.topics)},
                                                     .resume = params.resume});
}

}  // namespace kobs::serve::events
