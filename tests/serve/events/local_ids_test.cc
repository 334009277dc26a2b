// kobs all publishes events ahead of the store with the cursor (the SSE id)
// the store will give them (serve/events/event_feed.h, "Local publishing").
// These tests run the write path as `kobs all` runs it: the embedded store
// opened with a stop token (so its inserts carry a kill tag), the sender
// merging the batches that wait behind an insert into one insert, and a
// disk buffer replayed after a restart. Every id published locally must be
// the id of the same row in the store, or a browser resuming from the store
// gets the event a second time under another id.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/stop.h"
#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "serve/events/event_reader.h"
#include "serve/events/local_event.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::serve::events {
namespace {

using namespace std::chrono_literals;

pipeline::LogRecord eventRecord(int i, int64_t ts) {
  pipeline::LogRecord r;
  auto res = std::make_shared<pipeline::Resource>();
  res->attributes.emplace_back("telemetry.source", "k8s-events");
  r.resource = res;
  r.time_unix_nano = ts;
  r.observed_time_unix_nano = ts;
  r.body = fmt::format(R"({{"type":"ADDED","object":{{"metadata":{{"uid":"ev-{0}"}},"involvedObject":)"
                       R"({{"kind":"Pod","name":"web-{0}","namespace":"demo","uid":"pod-{0}"}},)"
                       R"("reason":"Created","message":"event {0}","type":"Normal"}}}})",
                       i);
  r.attributes.emplace_back("krateo.io/composition-id", "comp-1");
  return r;
}

// A log line that is not a Kubernetes event (OTLP, pod logs): the view skips it.
pipeline::LogRecord otherRecord(int i, int64_t ts) {
  pipeline::LogRecord r;
  auto res = std::make_shared<pipeline::Resource>();
  res->attributes.emplace_back("service.name", "web");
  r.resource = res;
  r.time_unix_nano = ts;
  r.observed_time_unix_nano = ts;
  r.body = fmt::format("log line {}", i);
  return r;
}

// What the pipeline's seal listener hands over, as kobs all wires it
// (app/pipeline_wiring.cc): the locally built events of each durable batch.
struct LocalIds {
  std::mutex m;
  std::condition_variable cv;
  std::set<EventCursor> published;
  size_t batches_done = 0;

  pipeline::SealListener<pipeline::LogRecord> listener() {
    pipeline::SealListener<pipeline::LogRecord> l;
    l.tap = [](const pipeline::LogRecord& r) -> std::shared_ptr<const void> { return localEventFromLog(r); };
    l.durable = [this](std::shared_ptr<const pipeline::SealedItems> s) {
      std::lock_guard g(m);
      for (const auto& it : s->items) {
        EventCursor c = std::static_pointer_cast<const LocalEvent>(it)->row.cursor;
        c.ingest_ns = s->ingest_ns;
        published.insert(c);
      }
    };
    l.done = [this](const pipeline::SealedItems&, bool) {
      std::lock_guard g(m);
      ++batches_done;
      cv.notify_all();
    };
    return l;
  }
};

class LocalIdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    database_ = std::string("localids_") + info->name();
    schema_ = applySchema(*openStore(stop_));
  }

  // As kobs opens it: with a stop token, so each insert is tagged for the kill.
  std::unique_ptr<store::EmbeddedStore> openStore(const StopSource& stop) {
    store::EmbeddedOptions o;
    o.data_dir = kobs::testing::embeddedDataDir();
    o.library_path = kobs::testing::chdbLibraryPath();
    o.database = database_;
    o.reader_connections = 2;
    o.stop = stop.token();
    return std::make_unique<store::EmbeddedStore>(o);
  }

  store::schema::Schema applySchema(store::IStore& s) {
    store::schema::SchemaOptions so;
    so.database = database_;
    so.krateo_events = true;
    auto schema = store::schema::SchemaManager::apply(s, so);
    EXPECT_TRUE(schema.events_ingest_from_insert);
    return schema;
  }

  pipeline::PipelineOptions options() const {
    pipeline::PipelineOptions po;
    po.buffer.dir = buffer_.path();
    po.sender.merge_max_rows = 100000;  // as config.cc sets it: batches waiting behind an insert go in one
    po.sender.merge_max_bytes = 8 << 20;
    po.sender.backoff_initial = 10ms;
    po.sender.backoff_max = 50ms;
    return po;
  }

  // Several batches sealed into the buffer before the sender runs, so they
  // wait together: events alone, logs alone, and both in one batch.
  static size_t sealBatches(pipeline::Pipeline& p, int64_t ts, int first) {
    size_t event_batches = 0;
    for (int i = first; i < first + 6; ++i) {
      std::vector<pipeline::LogRecord> batch;
      if (i % 3 != 1) batch.push_back(eventRecord(i, ts + i));
      if (i % 3 != 0) batch.push_back(otherRecord(i, ts + i));
      if (i % 3 == 2) batch.push_back(eventRecord(1000 + i, ts + i));
      event_batches += i % 3 != 1;
      p.logs().add(batch);
      p.logs().flush();
    }
    return event_batches;
  }

  std::set<EventCursor> storedIds(store::IStore& s) {
    EventReader reader(s, database_, "krateo_events");
    std::set<EventCursor> out;
    for (const auto& r : reader.after(EventCursor{}, 1000)) out.insert(r.cursor);
    return out;
  }

  static std::vector<std::string> names(const std::set<EventCursor>& ids) {
    std::vector<std::string> out;
    for (const auto& c : ids) out.push_back(c.str());
    return out;
  }

  std::string database_;
  StopSource stop_;
  kobs::testing::TempDir buffer_;
  store::schema::Schema schema_;
};

TEST_F(LocalIdsTest, IdsPublishedWhenDurableAreTheStoresAcrossAMergedInsert) {
  auto store = openStore(stop_);
  LocalIds local;
  pipeline::Pipeline p(*store, pipeline::targetsFromSchema(schema_), options());
  p.logs().setSealListener(local.listener());
  const int64_t ts = 1796090000000000000LL;
  const size_t event_batches = sealBatches(p, ts, 0);
  p.start();
  {
    std::unique_lock g(local.m);
    ASSERT_TRUE(local.cv.wait_for(g, 120s, [&] { return local.batches_done >= event_batches; }));
  }
  p.shutdown(std::chrono::steady_clock::now() + 30s);
  // The case under test happened: batches went into the store together.
  EXPECT_GT(p.sender().stats().batches_merged.load(), 0u);
  ASSERT_EQ(local.published.size(), 6u);
  EXPECT_EQ(names(storedIds(*store)), names(local.published));
}

TEST_F(LocalIdsTest, IdsPublishedWhenDurableAreTheStoresAfterAReplay) {
  const int64_t ts = 1796090000000000000LL;
  LocalIds local;
  {
    // The first process: its batches are durable (and published) but the
    // store stops before it takes them; the sender has handed a group out.
    StopSource stop1;
    auto store1 = openStore(stop1);
    stop1.requestStop();
    pipeline::Pipeline p1(*store1, pipeline::targetsFromSchema(schema_), options());
    p1.logs().setSealListener(local.listener());
    sealBatches(p1, ts, 0);
    p1.start();
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (p1.sender().stats().retries.load() == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    ASSERT_GT(p1.sender().stats().retries.load(), 0u) << "the sender never tried an insert";
    p1.shutdown(std::chrono::steady_clock::now());
    EXPECT_EQ(p1.buffer().pendingBatches(), 6u);
  }
  ASSERT_EQ(local.published.size(), 6u);
  // The next process replays the buffer (the group handed out, then the rest, merged).
  auto store2 = openStore(stop_);
  pipeline::Pipeline p2(*store2, pipeline::targetsFromSchema(schema_), options());
  p2.start();
  const auto until = std::chrono::steady_clock::now() + 120s;
  while (p2.buffer().pendingBatches() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(p2.buffer().pendingBatches(), 0u);
  p2.shutdown(std::chrono::steady_clock::now() + 30s);
  EXPECT_EQ(names(storedIds(*store2)), names(local.published));
}

}  // namespace
}  // namespace kobs::serve::events
