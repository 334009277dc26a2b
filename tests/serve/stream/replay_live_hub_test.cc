// The shared replay-then-live hub (serve/stream) behind both /notifications
// APIs, through the real listeners, feed and embedded store: every stream
// gets its exact bytes, and a batch's frames are built once per distinct
// selection, not once per client.
#include <gtest/gtest.h>

#include <map>
#include <tuple>
#include <thread>

#include <nlohmann/json.hpp>

#include "http/http_server.h"
#include "serve/events/events_api.h"
#include "serve/events/events_fixture.h"
#include "serve/events/sse_client.h"
#include "serve/presenter/presenter_api.h"

namespace kobs::serve::stream {
namespace {

using namespace std::chrono_literals;
using serve::testing::SseClient;

class ReplayLiveHubTest : public serve::testing::EventsStoreTest {
 protected:
  void SetUp() override {
    EventsStoreTest::SetUp();
    reader_ = std::make_unique<events::EventReader>(*store_, database_, "krateo_events");
    // No late-row check: every batch here is the rows of one insert.
    feed_ = std::make_unique<events::EventFeed>(*reader_, events::FeedOptions{.poll_interval = 50ms, .lookback = 0ms});
    feed_->start();
  }
  void TearDown() override {
    if (server_) server_->stop(500ms);
    events_api_.reset();
    presenter_api_.reset();
    if (feed_) feed_->stop();
  }
  void startOldApi() {
    events_api_ = std::make_unique<events::EventsApi>(events::EventsApiOptions{}, nullptr);
    http::Router router;
    events_api_->addRoutes(router);
    events_api_->attach(*reader_, *feed_);
    serve(std::move(router));
  }
  void startPresenter() {
    presenter_reader_ = std::make_unique<presenter::PresenterReader>(*store_, database_, "krateo_events", "c1");
    presenter_api_ = std::make_unique<presenter::PresenterApi>(presenter::PresenterApiOptions{}, nullptr);
    http::Router router;
    presenter_api_->addRoutes(router);
    presenter_api_->attach(*presenter_reader_, *feed_);
    serve(std::move(router));
  }
  void serve(http::Router router) {
    server_ = std::make_unique<http::Server>(http::ServerOptions{.listen = "127.0.0.1:0"}, std::move(router));
    server_->start();
  }
  template <class Hub>
  void waitStreams(const Hub& hub, size_t n) {
    for (int i = 0; i < 500 && hub.streams() < n; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(hub.streams(), n);
  }
  // The next `n` event frames' bytes, concatenated.
  static std::string read(SseClient& c, int n) {
    std::string bytes;
    for (int i = 0; i < n; ++i) {
      auto f = c.nextEvent();
      if (!f) return bytes + "<missing>";
      bytes += f->raw;
    }
    return bytes;
  }

  std::unique_ptr<events::EventReader> reader_;
  std::unique_ptr<events::EventFeed> feed_;
  std::unique_ptr<events::EventsApi> events_api_;
  std::unique_ptr<presenter::PresenterReader> presenter_reader_;
  std::unique_ptr<presenter::PresenterApi> presenter_api_;
  std::unique_ptr<http::Server> server_;
};

// 18 streams on 5 filters, two of them the same filter spelled differently,
// and two filters that take the same frames of these events: each gets the
// old API's exact bytes, and each batch is framed once per distinct
// selection (the frames every stream takes, and the composition frames
// alone), whatever the number of clients.
TEST_F(ReplayLiveHubTest, OldApiFramesAreBuiltOncePerSelectionAndSharedByEveryStream) {
  startOldApi();
  // The API's own subscriptions (the hub's, and the recent-events memory's
  // behind /events/{id}), before any stream opens.
  const size_t subscribed = feed_->subscribers();
  ASSERT_GE(subscribed, 1u);
  // target, clients, what each gets of these events: every frame, the
  // composition frames, or nothing.
  enum Takes { kEvery, kComposition, kNothing };
  const std::vector<std::tuple<std::string, int, Takes>> groups = {
      {"/notifications", 6, kEvery},
      {"/notifications?topic=comp-a", 4, kComposition},
      {"/notifications?topic=comp-a&topic=krateo", 3, kEvery},  // the same frames as the first group
      {"/notifications?topic=krateo&topic=comp-a", 3, kEvery},  // the same filter as the one above
      {"/notifications?topic=comp-b", 2, kNothing}};
  std::vector<std::pair<Takes, std::unique_ptr<SseClient>>> clients;
  for (const auto& [target, n, takes] : groups)
    for (int i = 0; i < n; ++i) clients.emplace_back(takes, std::make_unique<SseClient>(server_->port(), target));
  waitStreams(events_api_->hub(), clients.size());
  // Streams open and close without touching the feed: the hub's one
  // subscription serves them all.
  EXPECT_EQ(feed_->subscribers(), subscribed);

  std::vector<serve::testing::TestEvent> evs;
  for (int i = 0; i < 5; ++i) evs.push_back({.composition_id = "comp-a", .message = "m" + std::to_string(i)});
  insertEvents(evs);
  feed_->wake();

  const auto rows = reader_->after({}, 10);
  ASSERT_EQ(rows.size(), 5u);
  std::string every, comp;
  for (const auto& r : rows) {
    every += events::eventFrames(r, events::sseK8sEventJson(r), {});
    comp += events::eventFrames(r, events::sseK8sEventJson(r), {"comp-a"});
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    auto& [takes, c] = clients[i];
    if (takes == kNothing) {
      EXPECT_FALSE(c->nextEvent(300ms)) << "client " << i;
      continue;
    }
    EXPECT_EQ(read(*c, takes == kEvery ? 10 : 5), takes == kEvery ? every : comp) << "client " << i;
  }
  const auto& stats = events_api_->hub().stats();
  const uint64_t batches = stats.batches.load();
  ASSERT_GE(batches, 1u);
  EXPECT_EQ(stats.frames_built.load(), 2 * batches) << "one block per selection and batch";
  EXPECT_EQ(stats.frames_shared.load(), 16 * batches) << "the blocks reach every stream that takes frames";
}

// The presenter's streams share blocks the same way: every stream that takes
// the same events (no filter, or the composition all of them belong to) gets
// one block per batch; ids and JSON are the presenter's.
TEST_F(ReplayLiveHubTest, PresenterFramesAreBuiltOncePerSelectionAndShared) {
  startPresenter();
  std::vector<std::unique_ptr<SseClient>> all, comp_a, comp_b;
  for (int i = 0; i < 4; ++i) all.push_back(std::make_unique<SseClient>(server_->port(), "/notifications"));
  for (int i = 0; i < 3; ++i)
    comp_a.push_back(std::make_unique<SseClient>(server_->port(), "/notifications?composition_id=comp-a"));
  comp_b.push_back(std::make_unique<SseClient>(server_->port(), "/notifications?composition_id=comp-b"));
  waitStreams(presenter_api_->hub(), 8);

  std::vector<serve::testing::TestEvent> evs;
  for (int i = 0; i < 4; ++i) evs.push_back({.composition_id = "comp-a", .message = "p" + std::to_string(i)});
  insertEvents(evs);
  feed_->wake();

  const auto rows = reader_->after({}, 10);
  ASSERT_EQ(rows.size(), 4u);
  const std::string first = read(*all[0], 4);
  for (auto* group : {&all, &comp_a})
    for (auto& c : *group) {
      const std::string bytes = c.get() == all[0].get() ? first : read(*c, 4);
      EXPECT_EQ(bytes, first);
    }
  // The presenter's frame: krateo topic, its item JSON, the bare cursor as id.
  SseClient check(server_->port(), "/notifications?lastEventId=" + rows[0].cursor.str());
  auto f = check.nextEvent();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->event, "krateo");
  EXPECT_EQ(f->id, rows[1].cursor.str());
  EXPECT_EQ(nlohmann::json::parse(f->data)["message"], "p1");
  EXPECT_EQ(f->raw, "event: krateo\ndata: " + f->data + "\nid: " + f->id + "\n\n");
  EXPECT_NE(first.find(f->raw), std::string::npos) << "the replayed frame has the live frame's bytes";
  EXPECT_FALSE(comp_b[0]->nextEvent(300ms));

  const auto& stats = presenter_api_->hub().stats();
  const uint64_t batches = stats.batches.load();
  ASSERT_GE(batches, 1u);
  EXPECT_EQ(stats.frames_built.load(), batches);
  EXPECT_EQ(stats.frames_shared.load(), 7 * batches);
}

// A stream that resumes while events keep coming holds the live ones back,
// replays the gap page by page (pages of 2 rows here), then sends the held
// ones it did not replay: every event once, in order, the seam included.
TEST_F(ReplayLiveHubTest, ResumeReplaysPageByPageThenSendsHeldLiveEventsOnce) {
  events::EventsApiOptions o;
  o.sse.replay_page_rows = 2;
  events_api_ = std::make_unique<events::EventsApi>(o, nullptr);
  http::Router router;
  events_api_->addRoutes(router);
  events_api_->attach(*reader_, *feed_);
  serve(std::move(router));
  std::vector<serve::testing::TestEvent> before;
  for (int i = 0; i < 7; ++i) before.push_back({.message = "r" + std::to_string(i)});
  insertEvents(before);
  feed_->wake();
  for (int i = 0; i < 500 && feed_->highWater() < reader_->maxCursor(); ++i) std::this_thread::sleep_for(10ms);
  const auto first = reader_->after({}, 1);
  ASSERT_EQ(first.size(), 1u);
  SseClient resumed(server_->port(), "/notifications", {"Last-Event-ID: " + events::frameId(first[0].cursor, 0)});
  for (int i = 7; i < 10; ++i) {
    insertEvent({.message = "r" + std::to_string(i)});
    feed_->wake();
  }
  std::vector<std::string> got;
  for (int i = 1; i < 10; ++i) {
    auto f = resumed.nextEvent();
    ASSERT_TRUE(f) << "after " << got.size();
    got.push_back(nlohmann::json::parse(f->data)["message"]);
  }
  std::vector<std::string> want;
  for (int i = 1; i < 10; ++i) want.push_back("r" + std::to_string(i));
  EXPECT_EQ(got, want);
  EXPECT_FALSE(resumed.nextEvent(300ms));
}

}  // namespace
}  // namespace kobs::serve::stream
