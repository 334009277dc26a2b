// kobs all publishes events ahead of the store (serve/events/event_feed.h,
// "Local publishing"): the rows it builds from the records
// (serve/events/local_event.h) must be the rows the store's view makes, byte
// for byte and with the same cursor, and the feed must publish each event
// once, in order, and keep it replayable until the store has it.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "serve/events/event_feed.h"
#include "serve/events/event_reader.h"
#include "serve/events/local_event.h"
#include "serve/presenter/presenter_item.h"
#include "serve/presenter/presenter_reader.h"
#include "store/schema/schema_manager.h"
#include "support/temp_dir.h"
#include "support/embedded_store.h"

namespace kobs::serve::events {
namespace {

using namespace std::chrono_literals;

pipeline::LogRecord eventRecord(const std::string& body, int64_t ts, const std::string& composition,
                                const std::string& cluster = "") {
  pipeline::LogRecord r;
  auto res = std::make_shared<pipeline::Resource>();
  if (!cluster.empty()) res->attributes.emplace_back("k8s.cluster.name", cluster);
  res->attributes.emplace_back("telemetry.source", "k8s-events");
  r.resource = res;
  r.time_unix_nano = ts;
  r.observed_time_unix_nano = ts;
  r.body = body;
  if (!composition.empty()) r.attributes.emplace_back("krateo.io/composition-id", composition);
  return r;
}

// Bodies that exercise every extraction rule of the view.
std::vector<std::string> trickyBodies() {
  return {
      R"({"type":"ADDED","object":{"metadata":{"uid":"u1","name":"a"},"involvedObject":{"apiVersion":"v1","kind":"Pod","name":"web","namespace":"demo","uid":"p1"},"reason":"Created","message":"made <b>&</b> \"q\" \u00e9 \ud83d\ude00 /x","type":"Normal","source":{"component":"kubelet"},"eventTime":null,"lastTimestamp":"2026-03-15T10:00:00Z"}})",
      R"({"type":"MODIFIED","object":{"metadata":{"uid":"u2"},"involvedObject":{"kind":"Deployment","name":"d","namespace":"n2","uid":"d1"},"reason":"Scaled","message":"x","type":"Warning","source":{},"eventTime":"2026-03-15T10:00:00.123456Z"}})",
      // no eventTime nor lastTimestamp: the row's Timestamp in whole seconds
      R"({"type":"ADDED","object":{"metadata":{"uid":"u3"},"involvedObject":{"kind":"Pod","name":"p","namespace":"n3","uid":"x"},"reason":"Pulled","message":"","type":"Normal"}})",
      // duplicate keys (the first wins in the view), non-string values ('')
      R"({"type":"ADDED","object":{"metadata":{"uid":"u4"},"reason":"First","reason":"Second","message":42,"type":true,"involvedObject":{"kind":"Pod","name":["a"],"namespace":"n4","uid":"y"},"count":3,"x":1.50}})",
      // whitespace inside the object, escaped slash and unicode escapes in raw
      R"({"type":"ADDED","object": {"metadata": {"uid": "u5"}, "reason": "Spaced", "message": "a\/b \u0041", "involvedObject": {"kind": "Pod", "namespace": "n5"}}})",
  };
}

class LocalFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = kobs::testing::openEmbeddedStore("localfeed");
    store::schema::SchemaOptions so;
    so.database = "localfeed";
    so.krateo_events = true;
    schema_ = store::schema::SchemaManager::apply(*store_, so);
    store_->execute("TRUNCATE TABLE IF EXISTS `localfeed`.`otel_logs`");
    store_->execute("TRUNCATE TABLE IF EXISTS `localfeed`.`krateo_events`");
  }
  std::unique_ptr<store::EmbeddedStore> store_;
  store::schema::Schema schema_;
};

TEST_F(LocalFeedTest, TheEmbeddedViewTakesIngestTimeFromTheInsert) {
  EXPECT_TRUE(schema_.events_ingest_from_insert);
}

// Records through the real pipeline with a seal listener: each local event
// equals the stored row, cursor included, for the old API and the presenter.
TEST_F(LocalFeedTest, LocalEventsAreTheRowsTheStoreMakes) {
  kobs::testing::TempDir buf;
  pipeline::PipelineOptions po;
  po.buffer.dir = buf.path();
  pipeline::Pipeline p(*store_, pipeline::targetsFromSchema(schema_), po);
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::pair<int64_t, std::shared_ptr<const LocalEvent>>> local;
  int stored = 0;
  pipeline::SealListener<pipeline::LogRecord> l;
  l.tap = [](const pipeline::LogRecord& r) -> std::shared_ptr<const void> { return localEventFromLog(r); };
  l.durable = [&](std::shared_ptr<const pipeline::SealedItems> s) {
    std::lock_guard g(m);
    for (const auto& it : s->items)
      local.emplace_back(s->ingest_ns, std::static_pointer_cast<const LocalEvent>(it));
  };
  l.done = [&](const pipeline::SealedItems&, bool ok) {
    std::lock_guard g(m);
    stored += ok;
    cv.notify_all();
  };
  p.logs().setSealListener(l);
  p.start();
  const auto bodies = trickyBodies();
  std::vector<pipeline::LogRecord> records;
  int64_t ts = 1773568800123456789LL;
  for (size_t i = 0; i < bodies.size(); ++i)
    records.push_back(eventRecord(bodies[i], ts + int64_t(i), i % 2 ? "comp-1" : "", i == 1 ? "east" : ""));
  // Not k8s events, or without a reason: never published (the readers skip them).
  auto other = eventRecord(bodies[0], ts, "");
  auto res = std::make_shared<pipeline::Resource>();
  res->attributes.emplace_back("telemetry.source", "otlp");
  other.resource = res;
  records.push_back(other);
  records.push_back(eventRecord(R"({"type":"ADDED","object":{"reason":""}})", ts, ""));
  records.push_back(eventRecord("not json", ts, ""));
  p.logs().add(records);
  p.logs().flush();
  {
    std::unique_lock g(m);
    ASSERT_TRUE(cv.wait_for(g, 60s, [&] { return stored >= 1; }));
  }
  p.shutdown(std::chrono::steady_clock::now() + 30s);

  EventReader reader(*store_, "localfeed", "krateo_events");
  auto rows = reader.after(EventCursor{}, 100);
  ASSERT_EQ(rows.size(), bodies.size());
  ASSERT_EQ(local.size(), bodies.size());
  presenter::PresenterReader preader(*store_, "localfeed", "krateo_events", "default-cluster");
  for (const auto& [ingest, e] : local) {
    StoredEvent mine = e->row;
    mine.cursor.ingest_ns = ingest;
    auto it = std::find_if(rows.begin(), rows.end(), [&](const StoredEvent& r) { return r.cursor == mine.cursor; });
    ASSERT_NE(it, rows.end()) << "no stored row with the cursor " << mine.cursor.str() << " (" << mine.reason << ")";
    EXPECT_EQ(sseK8sEventJson(*it), sseK8sEventJson(mine));
    EXPECT_EQ(it->composition_id, mine.composition_id);
    EXPECT_EQ(it->event_time, mine.event_time);

    FeedEvent fe;
    fe.row = mine;
    fe.local = e;
    auto item = presenter::itemFromFeed(fe, preader.defaultCluster(), true);
    ASSERT_TRUE(item);
    auto stored_items = preader.byCursors({mine.cursor}, true);
    ASSERT_EQ(stored_items.size(), 1u);
    EXPECT_EQ(presenter::itemJson(stored_items[0], true), presenter::itemJson(*item, true));
  }
}

TEST_F(LocalFeedTest, FeedPublishesLocalEventsOnceInOrderAndKeepsThemUntilStored) {
  EventReader reader(*store_, "localfeed", "krateo_events");
  FeedOptions fo;
  fo.poll_interval = 50ms;
  EventFeed feed(reader, fo);
  std::atomic<bool> gate{false};
  feed.enableLocal([&] { return gate.load(); });
  feed.start();
  std::mutex m;
  std::condition_variable cv;
  std::vector<EventCursor> seen;
  feed.subscribe([&](const FeedBatch& b) {
    std::lock_guard g(m);
    for (const auto& e : b) seen.push_back(e->row.cursor);
    cv.notify_all();
  });
  auto make = [](int64_t ts, const std::string& reason) {
    auto e = localEventFromLog(eventRecord(
        R"({"type":"ADDED","object":{"reason":")" + reason + R"(","involvedObject":{"namespace":"n"}}})", ts, "c"));
    EXPECT_TRUE(e);
    return e;
  };
  // Two events of one batch, out of cursor order; a second batch stored
  // before it is published.
  const std::vector<std::shared_ptr<const LocalEvent>> first{make(20, "b"), make(10, "a")}, second{make(5, "c")};
  feed.publishLocal(1000, first);
  feed.localStored(2000, second);
  feed.publishLocal(2000, second);
  std::this_thread::sleep_for(200ms);  // the gate holds them (a replay after a restart is not done)
  {
    std::lock_guard g(m);
    EXPECT_TRUE(seen.empty());
  }
  gate = true;
  {
    std::unique_lock g(m);
    ASSERT_TRUE(cv.wait_for(g, 60s, [&] { return seen.size() >= 3; }));
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].ingest_ns, 1000);
    EXPECT_EQ(seen[0].ts_ns, 10);
    EXPECT_EQ(seen[1].ts_ns, 20);
    EXPECT_EQ(seen[2].ingest_ns, 2000);
  }
  EXPECT_TRUE(feed.localActive());
  // The first batch waits for the store; the second was stored already.
  auto unstored = feed.unstoredAfter(EventCursor{}, 10);
  ASSERT_EQ(unstored.size(), 2u);
  EXPECT_EQ(unstored[0]->row.cursor, seen[0]);
  EXPECT_TRUE(feed.unstoredAt(seen[1]));
  EXPECT_FALSE(feed.unstoredAt(seen[2]));
  EXPECT_EQ(feed.unstoredAfter(seen[0], 10).size(), 1u);
  feed.localStored(1000, first);
  EXPECT_TRUE(feed.unstoredAfter(EventCursor{}, 10).empty());
  EXPECT_EQ(feed.highWater(), seen[2]);
  feed.stop();
}


// Batches sealed while the sender is busy share an ingest time (the batcher
// gives a batch the previous one's only when its rows follow): they go out
// in order, none late, and leave the unstored set by cursor as each is
// stored, whichever insert stores it.
TEST_F(LocalFeedTest, BatchesSharingAnIngestTimeGoOutInOrderAndAreStoredByCursor) {
  EventReader reader(*store_, "localfeed", "krateo_events");
  FeedOptions fo;
  fo.poll_interval = 50ms;
  EventFeed feed(reader, fo);
  feed.enableLocal([] { return true; });
  feed.start();
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::shared_ptr<const FeedEvent>> seen;
  feed.subscribe([&](const FeedBatch& b) {
    std::lock_guard g(m);
    seen.insert(seen.end(), b.begin(), b.end());
    cv.notify_all();
  });
  auto make = [](int64_t ts, const std::string& reason) {
    auto e = localEventFromLog(eventRecord(
        R"({"type":"ADDED","object":{"reason":")" + reason + R"(","involvedObject":{"namespace":"n"}}})", ts, "c"));
    EXPECT_TRUE(e);
    return e;
  };
  const std::vector<std::shared_ptr<const LocalEvent>> first{make(10, "a"), make(20, "b")}, second{make(30, "c")},
      third{make(40, "d")};
  feed.publishLocal(5000, first);
  feed.publishLocal(5000, second);
  feed.localStored(5000, third);  // stored (by an insert of its own) before it is published
  feed.publishLocal(5000, third);
  {
    std::unique_lock g(m);
    ASSERT_TRUE(cv.wait_for(g, 60s, [&] { return seen.size() >= 4; }));
    ASSERT_EQ(seen.size(), 4u);
    for (size_t i = 0; i < seen.size(); ++i) {
      EXPECT_EQ(seen[i]->row.cursor.ingest_ns, 5000);
      EXPECT_EQ(seen[i]->row.cursor.ts_ns, int64_t(10 * (i + 1)));
      EXPECT_FALSE(seen[i]->late) << i;
    }
  }
  // The second batch's insert comes first; the first batch's rows stay unstored.
  feed.localStored(5000, second);
  auto unstored = feed.unstoredAfter(EventCursor{}, 10);
  ASSERT_EQ(unstored.size(), 2u);
  EXPECT_EQ(unstored[0]->row.cursor, seen[0]->row.cursor);
  EXPECT_EQ(unstored[1]->row.cursor, seen[1]->row.cursor);
  feed.localStored(5000, first);
  EXPECT_TRUE(feed.unstoredAfter(EventCursor{}, 10).empty());
  EXPECT_EQ(feed.highWater(), seen[3]->row.cursor);
  EXPECT_EQ(feed.stats().late.load(), 0u);
  feed.stop();
}

}  // namespace
}  // namespace kobs::serve::events
