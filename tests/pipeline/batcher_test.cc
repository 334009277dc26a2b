#include "pipeline/batcher.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "pipeline/otel_encoders.h"
#include "support/file_size_limit.h"
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

LogRecord record(size_t body) {
  LogRecord r;
  r.body = std::string(body, 'x');
  return r;
}

TEST(Batcher, SealsOnRowsAndKeepsCallbacksWithTheirBatch) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_rows = 3});
  int fired = 0;
  b.add(record(1), [&](bool ok) { fired += ok; });
  b.add(record(1), [&](bool ok) { fired += ok; });
  EXPECT_EQ(buffer.pendingBatches(), 0u);
  b.add(record(1), [&](bool ok) { fired += ok; });
  ASSERT_EQ(buffer.pendingBatches(), 1u);
  auto batch = buffer.next(0, 0ms);
  EXPECT_EQ(batch->header.rows, 3u);
  buffer.commit(batch->seq);
  EXPECT_EQ(fired, 3);
}

TEST(Batcher, AcceptedRecordsSurviveAFullBufferAndLaterAddsAreRefused) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .max_bytes = 2000, .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_rows = 1, .full_wait = 10ms});
  bool first = false, second = false;
  b.add(record(1500), [&](bool ok) { first = ok; });  // sealed: fills the buffer
  ASSERT_EQ(buffer.pendingBatches(), 1u);
  b.add(record(1500), [&](bool ok) { second = ok; });  // accepted, but cannot be sealed yet
  EXPECT_EQ(buffer.pendingBatches(), 1u);
  EXPECT_THROW(b.add(record(10)), Exception);  // back-pressure: refused, nothing accepted
  EXPECT_EQ(b.stats().records_rejected.load(), 1u);
  // The store takes the first batch; the open one now fits and goes in whole.
  buffer.commit(buffer.next(0, 0ms)->seq);
  EXPECT_TRUE(first);
  b.flushIfOlderThan(std::chrono::steady_clock::now());
  ASSERT_EQ(buffer.pendingBatches(), 1u);
  auto batch = buffer.next(1, 0ms);
  EXPECT_EQ(batch->header.rows, 1u);
  buffer.commit(batch->seq);
  EXPECT_TRUE(second);
}

// A lone record is sealed once no other record arrived for `linger`, not held
// for max_age; while the sender is busy, the batch keeps growing until max_age.
TEST(Batcher, ALoneRecordIsSealedAfterTheLingerWhenTheSenderIsIdle) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_age = std::chrono::hours(1), .linger = 5ms});
  int opened = 0;
  b.setOnOpen([&] { ++opened; });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(b.sealIfDue(t0, true, 100ms), std::chrono::steady_clock::time_point::max());  // nothing open
  b.add(record(1));
  b.add(record(1));
  EXPECT_EQ(opened, 1);  // only the record that opened the batch signals
  const auto added = std::chrono::steady_clock::now();
  // Not yet due: the next deadline is the linger after the last add.
  const auto due = b.sealIfDue(added, true, 100ms);
  EXPECT_GE(due, added + 5ms - 1ms);
  EXPECT_LE(due, added + 5ms);
  EXPECT_EQ(buffer.pendingBatches(), 0u);
  // The sender is busy: the linger does not seal; the batch waits for max_age.
  const auto busy = b.sealIfDue(due, false, 100ms);
  EXPECT_GT(busy, due + std::chrono::minutes(59));
  EXPECT_EQ(buffer.pendingBatches(), 0u);
  // The sender is idle at the deadline: sealed, both records in one batch.
  EXPECT_EQ(b.sealIfDue(due, true, 100ms), std::chrono::steady_clock::time_point::max());
  ASSERT_EQ(buffer.pendingBatches(), 1u);
  EXPECT_EQ(buffer.next(0, 0ms)->header.rows, 2u);
  // The next record opens a new batch and signals again.
  b.add(record(1));
  EXPECT_EQ(opened, 2);
}

// max_age caps a batch whose records keep arriving within the linger.
TEST(Batcher, MaxAgeSealsABatchThatKeepsGrowing) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_age = 50ms, .linger = std::chrono::hours(1)});
  b.add(record(1));
  const auto opened = std::chrono::steady_clock::now();
  EXPECT_EQ(buffer.pendingBatches(), 0u);
  EXPECT_NE(b.sealIfDue(opened + 10ms, true, 100ms), std::chrono::steady_clock::time_point::max());
  EXPECT_EQ(buffer.pendingBatches(), 0u);
  EXPECT_EQ(b.sealIfDue(opened + 50ms, false, 100ms), std::chrono::steady_clock::time_point::max());
  EXPECT_EQ(buffer.pendingBatches(), 1u);
}

TEST(Batcher, AbandonTellsProducersTheirRecordsWereNotStored) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {});
  int result = -1;
  b.add(record(5), [&](bool ok) { result = ok; });
  b.abandon();
  EXPECT_EQ(result, 0);
  // Lost, not refused: counted in kobs_records_dropped_total, not refused.
  EXPECT_EQ(b.stats().records_abandoned.load(), 1u);
  EXPECT_EQ(b.stats().records_rejected.load(), 0u);
}


TEST(Batcher, ADiskErrorIsReportedAsSuchNotAsAFullBuffer) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_rows = 1, .full_wait = 10ms});
  bool stored = false;
  {
    testing::FileSizeLimit limit(0);  // every segment write fails (EFBIG)
    b.add(record(10), [&](bool ok) { stored = ok; });  // accepted; its seal fails and it stays open
    EXPECT_EQ(buffer.pendingBatches(), 0u);
    try {
      b.add(record(10));
      FAIL() << "a batcher that cannot seal must refuse";
    } catch (const Exception& e) {
      EXPECT_EQ(e.code(), ErrorCode::kIo) << e.what();
      EXPECT_EQ(std::string(e.what()).find("buffer full"), std::string::npos) << e.what();
    }
  }
  EXPECT_GE(b.stats().seal_failures_disk.load(), 2u);
  EXPECT_EQ(b.stats().seal_failures_full.load(), 0u);
  EXPECT_EQ(b.stats().records_rejected_disk.load(), 1u);
  EXPECT_EQ(b.stats().records_rejected.load(), 0u);
  // Space again: the accepted record goes in whole.
  b.flushIfOlderThan(std::chrono::steady_clock::now());
  ASSERT_EQ(buffer.pendingBatches(), 1u);
  buffer.commit(buffer.next(0, 0ms)->seq);
  EXPECT_TRUE(stored);
}


// kobs all's events (serve/events/event_feed.h): a batch whose rows a seal
// listener kept gets an ingest time; the batches sealed while the sender is
// busy share the previous one, so the buffer merges them into one insert,
// but only when their kept rows' timestamps follow the previous batch's
// (rows sharing an ingest time order by timestamp; the feed publishes in
// seal order).
TEST(Batcher, BatchesSealedWhileTheSenderIsBusyShareAnIngestTimeWhenTheirRowsFollow) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_age = std::chrono::hours(1)});
  std::vector<int64_t> durable;  // ingest time of each batch handed to the listener
  SealListener<LogRecord> l;
  l.tap = [](const LogRecord& r) -> std::shared_ptr<const void> {
    const auto* body = std::get_if<std::string>(&r.body.value);
    return body && *body == "event" ? std::make_shared<int>(0) : nullptr;
  };
  l.durable = [&](std::shared_ptr<const SealedItems> s) { durable.push_back(s->ingest_ns); };
  b.setSealListener(l);
  auto seal = [&](const char* body, int64_t ts) {
    LogRecord r;
    r.body = body;
    r.time_unix_nano = ts;
    b.add(r);
    b.flush();
  };
  const GroupLimits limits{1000, 1 << 20};
  seal("event", 100);  // 1: the sender is idle: its own ingest time
  auto g = buffer.nextGroup(0, limits, 0ms);  // the sender takes it: the insert of {1} is in flight
  ASSERT_TRUE(g);
  EXPECT_EQ(g->last_seq, 1u);
  seal("event", 200);  // 2: one batch in hand: its own (a batch in flight merges with nothing)
  seal("event", 300);  // 3: 2 waits: shares 2's
  seal("log", 50);     // 4: nothing kept: none, merges with anything
  seal("event", 250);  // 5: below 3's row: a new one
  seal("event", 400);  // 6: shares 5's
  ASSERT_EQ(durable.size(), 5u);
  EXPECT_LT(durable[0], durable[1]);
  EXPECT_EQ(durable[1], durable[2]);
  EXPECT_LT(durable[2], durable[3]);
  EXPECT_EQ(durable[3], durable[4]);
  // The inserts: {1}, {2, 3, 4} with 2's ingest time, {5, 6} with 5's.
  EXPECT_EQ(g->header.ingest_ns, durable[0]);
  buffer.commit(g->seq, g->last_seq, true);
  g = buffer.nextGroup(1, limits, 0ms);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->seq, 2u);
  EXPECT_EQ(g->last_seq, 4u);
  EXPECT_EQ(g->header.ingest_ns, durable[1]);
  buffer.commit(g->seq, g->last_seq, true);
  g = buffer.nextGroup(4, limits, 0ms);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->seq, 5u);
  EXPECT_EQ(g->last_seq, 6u);
  EXPECT_EQ(g->header.ingest_ns, durable[3]);
}

// With sender.linger the sender waits over a small insert before taking it:
// a batch sealed meanwhile shares the waiting batch's ingest time (its rows
// following), so the two go into one insert rather than one each.
TEST(Batcher, ABatchSealedWhileThePreviousWaitsForTheSenderSharesItsIngestTime) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_age = std::chrono::hours(1)});
  std::vector<int64_t> durable;
  SealListener<LogRecord> l;
  l.tap = [](const LogRecord&) -> std::shared_ptr<const void> { return std::make_shared<int>(0); };
  l.durable = [&](std::shared_ptr<const SealedItems> s) { durable.push_back(s->ingest_ns); };
  b.setSealListener(l);
  auto seal = [&](int64_t ts) {
    LogRecord r;
    r.body = "event";
    r.time_unix_nano = ts;
    b.add(r);
    b.flush();
  };
  seal(100);
  seal(200);  // 1 still waits (nobody took it): shares its ingest time
  ASSERT_EQ(durable.size(), 2u);
  EXPECT_EQ(durable[0], durable[1]);
  auto g = buffer.nextGroup(0, {1000, 1 << 20}, 0ms);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->seq, 1u);
  EXPECT_EQ(g->last_seq, 2u);  // one insert
  EXPECT_EQ(g->header.ingest_ns, durable[0]);
  seal(300);  // {1, 2} taken: its own
  ASSERT_EQ(durable.size(), 3u);
  EXPECT_LT(durable[1], durable[2]);
}

// A batch with kept items is due after the linger even while the sender is
// busy (its events are published once it is durable), and the first kept
// item of an open batch wakes the flusher.
TEST(Batcher, ABatchWithKeptItemsIsSealedAfterTheLingerEvenWhileTheSenderIsBusy) {
  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path(), .fsync = FsyncPolicy::kNever});
  Batcher<LogRecord> b(encoder(), buffer, {.max_age = std::chrono::hours(1), .linger = 5ms});
  SealListener<LogRecord> l;
  l.tap = [](const LogRecord& r) -> std::shared_ptr<const void> {
    const auto* body = std::get_if<std::string>(&r.body.value);
    return body && *body == "event" ? std::make_shared<int>(0) : nullptr;
  };
  l.durable = [](std::shared_ptr<const SealedItems>) {};
  b.setSealListener(l);
  int woken = 0;
  b.setOnOpen([&] { ++woken; });
  LogRecord log, event;
  log.body = "log";
  event.body = "event";
  b.add(log);
  EXPECT_EQ(woken, 1);
  const auto t = std::chrono::steady_clock::now();
  EXPECT_GT(b.sealIfDue(t + 10ms, false, 100ms), t + std::chrono::minutes(59));  // logs only: waits
  EXPECT_EQ(buffer.pendingBatches(), 0u);
  b.add(event);
  EXPECT_EQ(woken, 2);
  b.add(event);
  EXPECT_EQ(woken, 2);
  EXPECT_EQ(b.sealIfDue(std::chrono::steady_clock::now() + 10ms, false, 100ms),
            std::chrono::steady_clock::time_point::max());
  ASSERT_EQ(buffer.pendingBatches(), 1u);
  EXPECT_EQ(buffer.next(0, 0ms)->header.rows, 3u);
}

}  // namespace
}  // namespace kobs::pipeline
