// StoreSender against the real embedded store: a failed commit record, a
// dead-letter folder that cannot be written, a batch spanning too many
// partitions, a malformed batch, a replay the store deduplicates. Faults are
// real where a real part can produce them (state.json.tmp made a directory,
// the dead-letter path made a file: the kernel refuses the writes); the one
// fake is ShortWritingStore (below), because ClickHouse cannot be made to
// drop chosen rows on demand.
#include "pipeline/store_sender.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "common/error.h"
#include "store/embedded/embedded_store.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"
#include "support/wait_for.h"

namespace kobs::pipeline {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Waits for a condition; the deadline only keeps a broken build from hanging.
using kobs::testing::waitFor;

// Rows of (v UInt32) with their ends and days, as the batcher records them.
struct Rows {
  std::string body;
  BatchHeader header;
};
Rows u32Rows(const std::string& table, uint32_t first, uint32_t n, int32_t day0 = 20000, bool day_per_row = false) {
  Rows r;
  r.header = BatchHeader{table, {"d", "v"}, "RowBinary", n, {}, {}};
  for (uint32_t i = 0; i < n; ++i) {
    uint16_t day = static_cast<uint16_t>(day0 + (day_per_row ? i : 0));
    uint32_t v = first + i;
    r.body.append(reinterpret_cast<const char*>(&day), 2);
    r.body.append(reinterpret_cast<const char*>(&v), 4);
    r.header.row_ends.push_back(static_cast<uint32_t>(r.body.size()));
    r.header.row_days.push_back(day);
  }
  return r;
}

class SenderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { store_ = testing::openEmbeddedStore("kobs_sender").release(); }
  static void TearDownTestSuite() { delete store_; }

  void SetUp() override {
    table_ = std::string("t_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    store_->execute("CREATE TABLE " + table_ +
                    " (d Date, v UInt32) ENGINE = MergeTree PARTITION BY d ORDER BY v "
                    "SETTINGS non_replicated_deduplication_window = 1000");
    bo_.dir = dir_.path() / "buffer";
    bo_.fsync = FsyncPolicy::kAlways;
    so_.backoff_initial = 1ms;
    so_.backoff_max = 20ms;
    so_.dead_letter_dir = bo_.dir / "dead";
  }

  uint64_t count(const std::string& where = "1") {
    return std::stoull(store_->query("SELECT count() FROM " + table_ + " WHERE " + where, "TabSeparated").data);
  }
  uint64_t distinctCount() {
    return std::stoull(store_->query("SELECT uniqExact(v) FROM " + table_, "TabSeparated").data);
  }

  static inline store::EmbeddedStore* store_ = nullptr;
  testing::TempDir dir_;
  std::string table_;
  DiskBufferOptions bo_;
  SenderOptions so_;
};

TEST_F(SenderTest, FailedCommitRecordIsRetriedNotDeadLetteredAndCallbacksRunOnce) {
  DiskBuffer buffer(bo_);
  // state.json.tmp as a directory: open(O_WRONLY) fails with EISDIR, as a
  // full or failing disk would fail the commit record.
  fs::create_directories(bo_.dir / "state.json.tmp");
  std::atomic<int> fired{0}, ok{0};
  auto rows = u32Rows(table_, 0, 100);
  buffer.append(rows.header, rows.body, [&](bool committed) {
    ++fired;
    ok += committed;
  });
  StoreSender sender(*store_, buffer, so_);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return sender.stats().commit_errors.load() >= 3; }));
  EXPECT_EQ(count(), 100u);  // the insert stands
  EXPECT_EQ(fired.load(), 0);  // not recorded yet, so not acknowledged
  EXPECT_EQ(buffer.committedSeq(), 0u);
  fs::remove_all(bo_.dir / "state.json.tmp");
  ASSERT_TRUE(waitFor([&] { return fired.load() == 1; }));
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(buffer.committedSeq(), 1u);
  EXPECT_EQ(sender.stats().batches_dead_lettered.load(), 0u);
  EXPECT_EQ(sender.stats().rows_committed.load(), 100u);
  EXPECT_FALSE(fs::exists(so_.dead_letter_dir));
  sender.stop();
  EXPECT_EQ(count(), 100u);
}

TEST_F(SenderTest, MalformedBatchWaitsForADurableDeadLetterCopyThenTheQueueMovesOn) {
  DiskBuffer buffer(bo_);
  // A regular file where the dead-letter folder goes: mkdir fails (ENOTDIR/EEXIST).
  fs::create_directories(bo_.dir);
  std::ofstream(so_.dead_letter_dir) << "in the way";
  auto bad = u32Rows(table_, 0, 10);
  bad.body.resize(bad.body.size() - 3);  // the last row is cut: ClickHouse cannot read it
  std::atomic<int> bad_result{-1}, good_result{-1};
  buffer.append(bad.header, bad.body, [&](bool c) { bad_result = c; });
  auto good = u32Rows(table_, 100, 10);
  buffer.append(good.header, good.body, [&](bool c) { good_result = c; });
  StoreSender sender(*store_, buffer, so_);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return sender.stats().dead_letter_errors.load() >= 3; }));
  EXPECT_EQ(sender.stats().failures_permanent.load(), 1u);
  EXPECT_EQ(bad_result.load(), -1);  // not committed while its copy is not safe
  EXPECT_EQ(buffer.committedSeq(), 0u);
  EXPECT_EQ(count(), 0u);  // and the queue holds: order is kept
  fs::remove(so_.dead_letter_dir);
  ASSERT_TRUE(waitFor([&] { return good_result.load() == 1; }));
  EXPECT_EQ(bad_result.load(), 0);
  EXPECT_EQ(count(), 10u);
  EXPECT_EQ(sender.stats().rows_dead_lettered.load(), 10u);
  EXPECT_TRUE(fs::exists(so_.dead_letter_dir / "batch-1.json"));
  EXPECT_EQ(fs::file_size(so_.dead_letter_dir / "batch-1.rowbinary"), bad.body.size());
  for (auto& f : fs::directory_iterator(so_.dead_letter_dir)) EXPECT_NE(f.path().extension(), ".tmp");
}

TEST_F(SenderTest, BatchSpanningTooManyPartitionsIsSplitByPartitionDay) {
  DiskBuffer buffer(bo_);
  so_.max_partitions_per_insert = 40;
  // 150 days in one block: ClickHouse refuses more than 100 partitions per insert.
  auto rows = u32Rows(table_, 0, 150, 20000, true);
  std::atomic<int> result{-1};
  buffer.append(rows.header, rows.body, [&](bool c) { result = c; });
  StoreSender sender(*store_, buffer, so_);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return result.load() != -1; }));
  EXPECT_EQ(result.load(), 1);
  EXPECT_EQ(sender.stats().failures_too_many_partitions.load(), 1u);
  EXPECT_EQ(sender.stats().batches_dead_lettered.load(), 0u);
  EXPECT_EQ(count(), 150u);
  EXPECT_EQ(distinctCount(), 150u);
  EXPECT_EQ(sender.stats().rows_committed.load(), 150u);
}

TEST_F(SenderTest, ReplayTheStoreAlreadyHasIsCountedOnce) {
  std::string instance;
  auto rows = u32Rows(table_, 0, 50);
  {
    DiskBuffer buffer(bo_);
    instance = buffer.instanceId();
    buffer.append(rows.header, rows.body);
  }
  // The batch reached the store, then the process died before recording it.
  store::InsertRequest req{.table = table_, .columns = {"d", "v"}, .body = rows.body, .rows = 50,
                           .deduplication_token = "kobs-" + instance + "-1"};
  store_->insert(req);
  DiskBuffer buffer(bo_);  // replays batch 1
  ASSERT_EQ(buffer.pendingBatches(), 1u);
  StoreSender sender(*store_, buffer, so_);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return buffer.pendingBatches() == 0; }));
  EXPECT_EQ(count(), 50u);
  EXPECT_EQ(sender.stats().batches_deduplicated.load(), 1u);
  EXPECT_EQ(sender.stats().rows_deduplicated.load(), 50u);
  EXPECT_EQ(sender.stats().rows_committed.load(), 0u) << "a replay must not count as new records out";
}

// FAKE (labelled): forwards to the embedded store but leaves out rows whose v
// is in `drop`, then reports what was written, as a short write looks. A real
// ClickHouse cannot be made to drop chosen rows on demand. all_or_nothing:
// an insert holding a dropped row stores none of its rows (written 0), as a
// store that refuses the whole block does; otherwise it keeps the others.
// fail_after: inserts past this many fail as retryable (a store gone away),
// so a test can stop the sender part-way through a bisection.
class ShortWritingStore final : public store::IStore {
 public:
  ShortWritingStore(store::IStore& inner, std::set<uint32_t> drop, bool all_or_nothing = false)
      : inner_(inner), drop_(std::move(drop)), all_or_nothing_(all_or_nothing) {}
  std::string_view kind() const override { return inner_.kind(); }
  const std::string& database() const override { return inner_.database(); }
  void execute(std::string_view sql, const store::Settings& s) override { inner_.execute(sql, s); }
  store::QueryResult query(std::string_view sql, std::string_view f, const store::Settings& s) override {
    return inner_.query(sql, f, s);
  }
  store::InsertResult insert(const store::InsertRequest& r) override {
    if (fail_after >= 0 && inserts_ >= fail_after)
      throw Exception(ErrorCode::kStoreUnavailable, "store gone away (injected)");
    ++inserts_;
    std::string kept;
    uint64_t rows = 0;
    bool dropped = false;
    for (size_t off = 0; off + 6 <= r.body.size(); off += 6) {
      uint32_t v;
      std::memcpy(&v, r.body.data() + off + 2, 4);
      if (drop_.count(v)) {
        dropped = true;
        continue;
      }
      kept.append(r.body.substr(off, 6));
      ++rows;
    }
    if (dropped && all_or_nothing_)  // it knows it wrote nothing, replay or not
      throw store::ShortWrite(r.rows, 0, "short write (injected): none of the rows stored");
    uint64_t written = 0;
    if (rows > 0) {
      store::InsertRequest inner = r;
      inner.body = kept;
      inner.rows = rows;
      inner.may_be_duplicate = true;  // let the inner store report what it wrote
      auto result = inner_.insert(inner);
      if (result.deduplicated && r.may_be_duplicate) return result;  // as a real store reports a replay
      written = result.rows_written;
    }
    return store::checkRowsWritten(r, written);
  }
  void ping() override { inner_.ping(); }
  std::atomic<int> fail_after{-1};

 private:
  store::IStore& inner_;
  std::set<uint32_t> drop_;
  bool all_or_nothing_;
  std::atomic<int> inserts_{0};
};

// The store kept 31 of 32 rows and cannot say which: a split would store
// those 31 again under new tokens (it stored 93 rows for 36 before), so the
// part is set aside whole, with the count and token of what the store holds.
TEST_F(SenderTest, ShortWriteThatKeptRowsIsRetriedThenSetAsideWholeAndNothingIsStoredTwice) {
  DiskBuffer buffer(bo_);
  ShortWritingStore shorting(*store_, {13});
  auto rows = u32Rows(table_, 0, 32);
  auto after = u32Rows(table_, 100, 5);
  std::atomic<int> first{-1}, second{-1};
  buffer.append(rows.header, rows.body, [&](bool c) { first = c; });
  buffer.append(after.header, after.body, [&](bool c) { second = c; });
  StoreSender sender(shorting, buffer, so_);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return second.load() != -1; }));
  EXPECT_EQ(second.load(), 1) << "a short-written batch must not stall the queue";
  EXPECT_EQ(first.load(), 0);  // set aside
  EXPECT_GE(sender.stats().failures_short_write.load(), uint64_t(so_.short_write_retries));
  EXPECT_EQ(count("v = 13"), 0u);
  EXPECT_EQ(distinctCount(), 31u + 5u);  // every other row is stored
  EXPECT_EQ(count(), distinctCount()) << "no row may be stored twice";
  EXPECT_EQ(sender.stats().rows_dead_lettered.load(), 1u);  // the one row the store does not hold
  EXPECT_EQ(sender.stats().parts_kept_in_part.load(), 1u);
  EXPECT_EQ(sender.stats().batches_dead_lettered.load(), 1u);
  ASSERT_TRUE(fs::exists(so_.dead_letter_dir / "batch-1.rowbinary"));
  EXPECT_EQ(fs::file_size(so_.dead_letter_dir / "batch-1.rowbinary"), 32u * 6);
  std::ifstream meta(so_.dead_letter_dir / "batch-1.json");
  std::string text((std::istreambuf_iterator<char>(meta)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"rows_stored_at_least\": 31"), std::string::npos) << text;
  EXPECT_NE(text.find("\"deduplication_token\": \"kobs-" + buffer.instanceId() + "-1\""), std::string::npos)
      << text;
}

// The store kept none of the part: bisecting is safe, and finds the one row.
TEST_F(SenderTest, ShortWriteThatKeptNothingIsBisectedAndOnlyTheBadRowIsDeadLettered) {
  DiskBuffer buffer(bo_);
  ShortWritingStore shorting(*store_, {13}, /*all_or_nothing=*/true);
  auto rows = u32Rows(table_, 0, 32);
  auto after = u32Rows(table_, 100, 5);
  std::atomic<int> first{-1}, second{-1};
  buffer.append(rows.header, rows.body, [&](bool c) { first = c; });
  buffer.append(after.header, after.body, [&](bool c) { second = c; });
  StoreSender sender(shorting, buffer, so_);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return second.load() != -1; }));
  EXPECT_EQ(second.load(), 1);
  EXPECT_EQ(first.load(), 0);  // set aside in part
  EXPECT_EQ(sender.stats().rows_dead_lettered.load(), 1u);
  EXPECT_EQ(sender.stats().batches_dead_lettered.load(), 1u);
  EXPECT_EQ(sender.stats().parts_kept_in_part.load(), 0u);
  EXPECT_EQ(count("v = 13"), 0u);
  EXPECT_EQ(distinctCount(), 31u + 5u);
  EXPECT_EQ(count(), distinctCount()) << "no row may be stored twice";
  ASSERT_TRUE(fs::exists(so_.dead_letter_dir / "batch-1-r13-14.rowbinary"));
  EXPECT_EQ(fs::file_size(so_.dead_letter_dir / "batch-1-r13-14.rowbinary"), 6u);
}

// Stopped part-way through a bisection (some halves stored), then started
// again over the same buffer: the halves carry tokens derived from the
// batch's and their row range, so the replay's halves are deduplicated.
TEST_F(SenderTest, BisectionInterruptedAndReplayedStoresEachRowOnce) {
  auto rows = u32Rows(table_, 0, 32);
  ShortWritingStore shorting(*store_, {13}, /*all_or_nothing=*/true);
  // Whole x3 (short), [0,16) x3 (short), [0,8) stored, [8,16) x3, [8,12) stored, then the store goes away.
  shorting.fail_after = 3 + 3 + 1 + 3 + 1;
  {
    DiskBuffer buffer(bo_);
    buffer.append(rows.header, rows.body);
    StoreSender sender(shorting, buffer, so_);
    sender.start();
    ASSERT_TRUE(waitFor([&] { return sender.stats().failures_retry.load() > 0; }));
    sender.stop();
    EXPECT_EQ(buffer.committedSeq(), 0u);
  }
  const uint64_t before = count();
  EXPECT_EQ(before, 12u);  // rows 0..11 stored by the halves
  shorting.fail_after = -1;
  DiskBuffer buffer(bo_);  // replays batch 1
  std::atomic<int> first{-1};
  StoreSender sender(shorting, buffer, so_);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return buffer.committedSeq() == 1; }));
  EXPECT_EQ(distinctCount(), 31u);
  EXPECT_EQ(count(), distinctCount()) << "no row may be stored twice";
  EXPECT_EQ(sender.stats().rows_deduplicated.load(), 12u);  // the halves stored before the stop
  EXPECT_EQ(sender.stats().rows_dead_lettered.load(), 1u);
  (void)first;
}

TEST_F(SenderTest, UnreadableBodyIsRetriedThenReportedLostAndTheQueueMovesOn) {
  auto rows = u32Rows(table_, 0, 10);
  {
    DiskBuffer buffer(bo_);
    buffer.append(rows.header, rows.body);
    auto after = u32Rows(table_, 100, 10);
    buffer.append(after.header, after.body);
  }
  // Flip a byte inside the first record's body: the read-back checksum fails.
  fs::path seg;
  for (auto& f : fs::directory_iterator(bo_.dir))
    if (f.path().extension() == ".seg") seg = f.path();
  bo_.memory_cache_bytes = 0;
  DiskBuffer buffer(bo_);  // replay: both records are intact at start
  ASSERT_EQ(buffer.pendingBatches(), 2u);
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  StoreSender sender(*store_, buffer, so_);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return buffer.pendingBatches() == 0; }));
  EXPECT_EQ(sender.stats().batches_unreadable.load(), 1u);
  EXPECT_GE(sender.stats().read_errors.load(), uint64_t(so_.read_retries));
  EXPECT_EQ(count(), 10u);  // the second batch
  EXPECT_EQ(count("v >= 100"), 10u);
}

}  // namespace
}  // namespace kobs::pipeline
