#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "serve/events/event_feed.h"
#include "serve/events/event_reader.h"
#include "store/schema/ddl.h"
#include "store/schema/krateo_events.h"
#include "events_fixture.h"

namespace kobs::serve::testing {
namespace {

using events::EventCursor;
using events::EventFeed;
using events::EventReader;
using events::FeedBatch;
using events::FeedOptions;

class EventStoreTest : public EventsStoreTest {
 protected:
  // A row that becomes visible only now with an ingest_time just below
  // `high`: what a second writer or a skewed cluster node produces.
  void insertLateRow(const EventCursor& high) {
    store_->execute(fmt::format(
        "INSERT INTO `{}`.krateo_events (composition_id, ingest_time, ts, row_key, reason, message) VALUES "
        "('', fromUnixTimestamp64Nano(toInt64({})), now64(9), 7, 'Late', 'late-row')",
        database_, high.ingest_ns - 1000));
  }
  EventReader reader() { return EventReader(*store_, database_, "krateo_events"); }
};

TEST_F(EventStoreTest, ViewExtractsTheApiColumnsOnce) {
  TestEvent a{.composition_id = "c1", .event_time = "2026-03-15T11:00:00.123456Z"};
  TestEvent b{.composition_id = "", .reason = "Pulled", .last_timestamp = "2026-03-15T12:00:00Z"};
  TestEvent c{.composition_id = "c1", .reason = "Killing", .last_timestamp = "",
              .timestamp_ns = 1773572400000000000};  // 2026-03-15T11:00:00Z
  insertEvents({a, b, c});
  // A log row that is not a k8s event stays out.
  store_->execute(fmt::format("INSERT INTO `{}`.otel_logs (Body, ResourceAttributes) VALUES ('hello', map('telemetry.source', 'filelog'))", database_));
  auto r = store_->query(fmt::format("SELECT composition_id, reason, event_time, obj_kind, obj_apiversion, watch_type "
                                     "FROM `{}`.krateo_events ORDER BY reason", database_),
                         "TabSeparated");
  EXPECT_EQ(r.data,
            "c1\tCreated\t2026-03-15T11:00:00.123456Z\tPod\tv1\tADDED\n"
            "c1\tKilling\t2026-03-15T11:00:00Z\tPod\tv1\tADDED\n"
            "\tPulled\t2026-03-15T12:00:00Z\tPod\tv1\tADDED\n");
}

TEST_F(EventStoreTest, NewestFirstPerCompositionWithLimitAndCursorPaging) {
  std::vector<TestEvent> evs;
  const int64_t base = 1773572400000000000;
  for (int i = 0; i < 10; ++i)
    evs.push_back({.composition_id = i % 2 ? "odd" : "even", .message = "m" + std::to_string(i),
                   .timestamp_ns = base + int64_t(i) * 1000});  // all within one second
  insertEvents(evs);
  auto rd = reader();
  auto all = rd.newest(std::nullopt, 200);
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.front().message, "m9");
  EXPECT_EQ(all.back().message, "m0");
  auto odd = rd.newest(std::string("odd"), 200);
  ASSERT_EQ(odd.size(), 5u);
  EXPECT_EQ(odd[0].message, "m9");
  EXPECT_EQ(odd[4].message, "m1");
  auto page1 = rd.newest(std::nullopt, 4);
  auto page2 = rd.newest(std::nullopt, 4, page1.back().cursor);
  auto page3 = rd.newest(std::nullopt, 4, page2.back().cursor);
  ASSERT_EQ(page1.size() + page2.size() + page3.size(), 10u);
  EXPECT_EQ(page2.front().message, "m5");
  EXPECT_EQ(page3.back().message, "m0");
  EXPECT_TRUE(rd.newest(std::string("nobody"), 10).empty());
}

// The reader parses the store's answer itself: escaped characters come back
// as they were, and a row longer than the parser's default window (1 MB)
// is read rather than refused.
TEST_F(EventStoreTest, NewestReadsEscapesAndRowsLongerThanAMegabyte) {
  const std::string text = "tab\there \"quoted\" back\\slash \xc3\xa9 \xe2\x80\xa8 end";
  store_->execute(fmt::format(
      "INSERT INTO `{}`.krateo_events (composition_id, ingest_time, ts, row_key, reason, message) VALUES "
      "('long', now64(9), now64(9), 1, 'Big', repeat('xxx', 500000)), "
      "('long', now64(9), now64(9) + toIntervalSecond(1), 2, 'Escaped', {})",
      database_, store::quoteString(text)));
  auto rows = reader().newest(std::string("long"), 10);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].reason, "Escaped");
  EXPECT_EQ(rows[0].message, text);
  EXPECT_EQ(rows[1].reason, "Big");
  EXPECT_EQ(rows[1].message, std::string(1500000, 'x'));
  EXPECT_EQ(rows[1].cursor.key, 1u);
}

TEST_F(EventStoreTest, CursorOrdersRowsOfOneInsertAndOfOneSecondTotally) {
  std::vector<TestEvent> evs(50, TestEvent{.composition_id = "c", .timestamp_ns = 1773572400000000000});
  for (size_t i = 0; i < evs.size(); ++i) evs[i].message = std::to_string(i);  // same ns, different body
  insertEvents(evs);
  insertEvents(evs);  // a second insert with identical timestamps
  auto rd = reader();
  std::vector<EventCursor> seen;
  EventCursor from;
  while (true) {
    auto page = rd.after(from, 7);
    for (auto& r : page) seen.push_back(r.cursor);
    if (page.size() < 7) break;
    from = page.back().cursor;
  }
  ASSERT_EQ(seen.size(), 100u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i - 1], seen[i]);
  EXPECT_EQ(rd.maxCursor(), seen.back());
}

TEST_F(EventStoreTest, ExistingEventsAreCopiedWhenTheTableIsCreated) {
  // A database that had otel_logs (old stack) before kobs added the events table.
  const std::string db = database_ + "_old";
  store::schema::SchemaOptions so;
  so.database = db;
  store::schema::SchemaManager::apply(*store_, so);
  insertEventsInto(db, {TestEvent{.composition_id = "old"}, TestEvent{.composition_id = "old"}});
  so.krateo_events = true;
  auto schema = store::schema::SchemaManager::apply(*store_, so);
  EXPECT_EQ(store_->query(fmt::format("SELECT count() FROM `{}`.krateo_events WHERE ingest_time = ts", db), "TabSeparated").data,
            "2\n");
  // Applying again copies nothing twice.
  store::schema::SchemaManager::apply(*store_, so);
  EXPECT_EQ(store_->query(fmt::format("SELECT count() FROM `{}`.krateo_events", db), "TabSeparated").data, "2\n");
}

TEST(EventsDdl, ClusterModeHasLocalDistributedAndViewOnLocalLogs) {
  store::schema::SchemaOptions so;
  so.krateo_events = true;
  so.cluster.name = "c";
  auto objs = store::schema::buildSchemaObjects(so, store::schema::parseServerVersion("25.8"));
  std::string local, dist, view;
  for (auto& o : objs) {
    if (o.name == "krateo_events_local") local = o.sql;
    if (o.name == "krateo_events") dist = o.sql;
    if (o.name == "krateo_events_mv") view = o.sql;
  }
  EXPECT_NE(local.find("ReplicatedMergeTree"), std::string::npos);
  EXPECT_NE(local.find("ORDER BY (composition_id, ts, row_key)"), std::string::npos);
  EXPECT_NE(dist.find("Distributed('c', 'default', 'krateo_events_local'"), std::string::npos);
  EXPECT_NE(view.find("ON CLUSTER `c`"), std::string::npos);
  EXPECT_NE(view.find("TO `default`.`krateo_events_local`"), std::string::npos);
  EXPECT_NE(view.find("FROM `default`.`otel_logs_local`"), std::string::npos);
  // Off by default: the OTel schema alone.
  store::schema::SchemaOptions plain;
  for (auto& o : store::schema::buildSchemaObjects(plain, store::schema::parseServerVersion("25.8")))
    EXPECT_EQ(o.name.find("krateo"), std::string::npos);
}

TEST_F(EventStoreTest, FeedPublishesEachNewRowOnceStartingAfterHistory) {
  insertEvent({.composition_id = "hist"});
  auto rd = reader();
  EventFeed feed(rd, FeedOptions{.poll_interval = std::chrono::hours(1), .lookback = std::chrono::seconds(5),
                                 .lookback_every = std::chrono::milliseconds(0), .page_rows = 3});
  feed.start();
  std::vector<std::string> got;
  std::mutex m;
  feed.subscribe([&](const FeedBatch& b) {
    std::lock_guard lock(m);
    for (auto& e : b) got.push_back(e->row.message + (e->late ? "*" : ""));
  });
  feed.pollOnce();
  EXPECT_TRUE(got.empty());
  std::vector<TestEvent> evs;
  for (int i = 0; i < 8; ++i) evs.push_back({.message = "n" + std::to_string(i)});
  insertEvents(evs);
  feed.pollOnce();
  feed.pollOnce();
  ASSERT_EQ(got.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(got[i], "n" + std::to_string(i));

  // A row that becomes visible late, below the high-water mark but within
  // the lookback window, is published once, marked late.
  const auto high = feed.highWater();
  insertLateRow(high);
  feed.pollOnce();
  feed.pollOnce();
  ASSERT_EQ(got.size(), 9u);
  EXPECT_EQ(got.back(), "late-row*");
  EXPECT_EQ(feed.stats().late.load(), 1u);
  feed.stop();
}

// The late-row check runs at most every lookback_every: polls woken in
// between only read above the high-water mark.
TEST_F(EventStoreTest, LateRowCheckRunsAtMostEveryLookbackEvery) {
  insertEvent({.message = "first"});
  auto rd = reader();
  EventFeed feed(rd, FeedOptions{.poll_interval = std::chrono::hours(1), .lookback = std::chrono::seconds(5),
                                 .lookback_every = std::chrono::milliseconds(400)});
  feed.start();
  std::atomic<int> late{0};
  feed.subscribe([&](const FeedBatch& b) {
    for (auto& e : b) late += e->late ? 1 : 0;
  });
  feed.pollOnce();  // runs the check (the first one)
  const auto high = feed.highWater();
  insertLateRow(high);
  feed.pollOnce();
  EXPECT_EQ(late.load(), 0);  // within 400 ms of the last check: not looked for
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  feed.pollOnce();
  EXPECT_EQ(late.load(), 1);
  feed.stop();
}

TEST_F(EventStoreTest, FeedWakesOnDemandAndPollsOnItsOwn) {
  auto rd = reader();
  EventFeed feed(rd, FeedOptions{.poll_interval = std::chrono::milliseconds(200), .lookback = std::chrono::milliseconds(0)});
  feed.start();
  std::atomic<int> n{0};
  feed.subscribe([&](const FeedBatch& b) { n += int(b.size()); });
  insertEvent({});
  for (int i = 0; i < 100 && n < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(n.load(), 1);
  feed.stop();
}


// A listener still busy with a batch holds up neither a new subscriber nor
// another one leaving (the SSE open/close paths); once unsubscribe() returns
// the listener is never called again. No timing: a subscribe() or
// unsubscribe() that waited behind the fan-out would never return while the
// busy listener is held, and the test would time out.
TEST_F(EventStoreTest, SubscribeAndUnsubscribeDoNotWaitBehindAFanOut) {
  auto rd = reader();
  EventFeed feed(rd, FeedOptions{.poll_interval = std::chrono::hours(1), .lookback = std::chrono::milliseconds(0)});
  feed.start();
  std::mutex m;
  std::condition_variable cv;
  bool busy = false, release = false;
  feed.subscribe([&](const FeedBatch&) {
    std::unique_lock lock(m);
    busy = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  std::atomic<int> leaving_calls{0};
  auto [leaving, _] = feed.subscribe([&](const FeedBatch&) { ++leaving_calls; });
  insertEvent({});
  std::thread poller([&] { feed.pollOnce(); });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return busy; });  // the fan-out is stuck in the first listener
  }
  auto [joined, high] = feed.subscribe([](const FeedBatch&) {});
  EXPECT_FALSE(high.isZero());  // the batch in flight counts as published before it
  feed.unsubscribe(leaving);
  feed.unsubscribe(joined);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  poller.join();
  EXPECT_EQ(leaving_calls.load(), 0);  // unsubscribed before the fan-out reached it
  feed.stop();
}

}  // namespace
}  // namespace kobs::serve::testing
