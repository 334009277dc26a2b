// The batcher's durable callback: a producer that answers a client (OTLP) is
// told once its records are in the disk buffer, not before, and the pipeline
// seals such a batch at once instead of waiting for batch.max_age.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "pipeline/batcher.h"
#include "pipeline/otel_encoders.h"
#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "store/schema/schema_manager.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::pipeline {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const LogEncoder> encoder() {
  std::vector<ColumnSpec> cols{{"Timestamp", "DateTime64(9)"}, {"TraceId", "String"}, {"SpanId", "String"},
                               {"TraceFlags", "UInt8"}, {"SeverityText", "LowCardinality(String)"},
                               {"SeverityNumber", "UInt8"}, {"ServiceName", "LowCardinality(String)"},
                               {"Body", "String"}, {"ResourceAttributes", "Map(LowCardinality(String), String)"},
                               {"ScopeName", "String"}, {"LogAttributes", "Map(LowCardinality(String), String)"}};
  return std::make_shared<const LogEncoder>("otel_logs", cols, logBindings());
}

LogRecord record(std::string body) {
  LogRecord r;
  r.body = std::move(body);
  return r;
}

TEST(BatcherDurable, TheCallbackRunsOnlyOnceTheBatchIsInTheBuffer) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kAlways});
  Batcher<LogRecord> b(encoder(), buffer, {.max_rows = 1000, .max_age = std::chrono::hours(1)});
  int wakes = 0;
  b.setDurableWaiterHook([&] { ++wakes; });
  std::vector<uint64_t> seen_pending;  // buffer's batch count when each callback ran
  b.add(record("a"), {}, [&](bool ok) {
    EXPECT_TRUE(ok);
    seen_pending.push_back(buffer.pendingBatches());
  });
  b.add(record("b"), {}, [&](bool ok) {
    EXPECT_TRUE(ok);
    seen_pending.push_back(buffer.pendingBatches());
  });
  EXPECT_TRUE(seen_pending.empty()) << "told durable before the batch was sealed";
  EXPECT_EQ(buffer.pendingBatches(), 0u);
  EXPECT_EQ(wakes, 1) << "the hook runs once per open batch, for its first waiter";
  b.flushDurableWaiters();
  ASSERT_EQ(seen_pending.size(), 2u);
  EXPECT_EQ(seen_pending[0], 1u);
  EXPECT_EQ(seen_pending[1], 1u);
  auto batch = buffer.next(0, 0ms);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->header.rows, 2u);
  // The next batch's first waiter wakes the flusher again.
  b.add(record("c"), {}, [](bool) {});
  EXPECT_EQ(wakes, 2);
}

TEST(BatcherDurable, AddsWithoutADurableCallbackDoNotForceASeal) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_rows = 1000, .max_age = std::chrono::hours(1)});
  int wakes = 0;
  b.setDurableWaiterHook([&] { ++wakes; });
  b.add(record("a"));
  b.flushDurableWaiters();
  EXPECT_EQ(wakes, 0);
  EXPECT_EQ(buffer.pendingBatches(), 0u) << "a batch nobody waits on keeps growing until max_age";
}

TEST(BatcherDurable, AnAbandonedBatchTellsItsWaitersFalse) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_rows = 1000, .max_age = std::chrono::hours(1)});
  std::optional<bool> outcome;
  b.add(record("a"), {}, [&](bool ok) { outcome = ok; });
  b.abandon();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_FALSE(*outcome);
}

TEST(BatcherDurable, AFullBufferKeepsWaitersWaitingUntilTheBatchFits) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .max_bytes = 2000, .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_rows = 1000, .max_age = std::chrono::hours(1), .full_wait = std::chrono::hours(1)});
  std::optional<bool> first, second;
  b.add(record(std::string(1500, 'x')), {}, [&](bool ok) { first = ok; });
  b.flushDurableWaiters();
  ASSERT_EQ(first, std::optional<bool>(true));
  b.add(record(std::string(1500, 'y')), {}, [&](bool ok) { second = ok; });
  b.flushDurableWaiters();  // the buffer refuses it: within full_wait the waiter is not told anything yet
  EXPECT_FALSE(second.has_value());
  buffer.commit(buffer.next(0, 0ms)->seq);  // the store took the first batch
  b.flushDurableWaiters();
  EXPECT_EQ(second, std::optional<bool>(true));
}

// The pipeline's flusher seals a batch a producer waits on without waiting
// for max_age (an hour here), and the records reach the real store.
TEST(PipelineDurable, AWaitedBatchIsSealedAtOnceAndStored) {
  auto store = kobs::testing::openEmbeddedStore("durable");
  store::schema::SchemaOptions so;
  so.database = "durable";
  auto schema = store::schema::SchemaManager::apply(*store, so);
  store->execute("TRUNCATE TABLE IF EXISTS `durable`.`otel_logs`");
  testing::TempDir buf;
  PipelineOptions po;
  po.buffer.dir = buf.path();
  po.batch.max_age = std::chrono::hours(1);
  Pipeline p(*store, targetsFromSchema(schema), po);
  p.start();
  std::mutex m;
  std::condition_variable cv;
  int durable = 0, committed = 0;
  constexpr int kProducers = 50;
  std::vector<std::thread> producers;
  for (int i = 0; i < kProducers; ++i)
    producers.emplace_back([&, i] {
      LogRecord r = record("durable-" + std::to_string(i));
      r.time_unix_nano = 1700000000000000000LL;
      p.logs().add(
          r,
          [&](bool ok) {
            std::lock_guard l(m);
            committed += ok;
            cv.notify_all();
          },
          [&](bool ok) {
            std::lock_guard l(m);
            durable += ok;
            cv.notify_all();
          });
    });
  for (auto& t : producers) t.join();
  {
    std::unique_lock l(m);
    ASSERT_TRUE(cv.wait_for(l, 60s, [&] { return durable == kProducers && committed == kProducers; }))
        << "durable=" << durable << " committed=" << committed;
  }
  EXPECT_GE(p.buffer().stats().appended_batches.load(), 1u);
  auto r = store->query("SELECT count() FROM `durable`.`otel_logs` WHERE Body LIKE 'durable-%'", "TSV");
  EXPECT_EQ(r.data, std::to_string(kProducers) + "\n");
  p.shutdown(std::chrono::steady_clock::now() + 5s);
}

}  // namespace
}  // namespace kobs::pipeline

namespace kobs::pipeline {
namespace {

// A batch the buffer keeps refusing: the waiting adds are taken out after
// full_wait (told false, their rows gone), adds without a durable callback
// stay, and what is left is stored whole once there is room.
TEST(BatcherDurable, WaitersOfABatchTheBufferRefusesAreWithdrawnOthersStay) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .max_bytes = 2000, .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_rows = 1000, .max_age = std::chrono::hours(1), .full_wait = 0ms});
  b.add(record(std::string(1750, 'x')));
  b.flush();  // fills the buffer
  std::optional<bool> w1, w2, committed_kept;
  b.add(record("waiter-1"), {}, [&](bool ok) { w1 = ok; });
  b.add(record("kept"), [&](bool ok) { committed_kept = ok; });
  b.add(record("waiter-2"), {}, [&](bool ok) { w2 = ok; });
  b.flushDurableWaiters();  // refused; full_wait is 0, so both waiters go
  EXPECT_EQ(w1, std::optional<bool>(false));
  EXPECT_EQ(w2, std::optional<bool>(false));
  EXPECT_EQ(b.stats().records_rejected.load(), 2u);
  buffer.commit(buffer.next(0, 0ms)->seq);
  b.flush();
  auto batch = buffer.next(1, 0ms);
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->header.rows, 1u) << "only the record without a waiter is left";
  EXPECT_NE(batch->body.find("kept"), std::string::npos);
  EXPECT_EQ(batch->body.find("waiter"), std::string::npos);
  ASSERT_EQ(batch->header.row_ends.size(), 1u);
  EXPECT_EQ(batch->header.row_ends[0], batch->body.size());
  buffer.commit(batch->seq);
  EXPECT_EQ(committed_kept, std::optional<bool>(true));
}

}  // namespace
}  // namespace kobs::pipeline
