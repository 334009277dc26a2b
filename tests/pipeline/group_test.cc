// Merged inserts: the disk buffer hands the sender consecutive waiting
// batches as one group, records a group before it is sent and replays it
// whole after a crash, so its token (and ClickHouse's deduplication) holds.
// Real parts throughout: a real buffer directory, the embedded store; the
// "crash" is the buffer and sender destroyed without the commit recorded
// (state.json.tmp made a directory: the kernel refuses the commit record).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "pipeline/disk_buffer.h"
#include "pipeline/store_sender.h"
#include "store/embedded/embedded_store.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"
#include "support/wait_for.h"

namespace kobs::pipeline {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using kobs::testing::waitFor;

// Rows of (d Date, v UInt32) with their ends and days, as the batcher records them.
struct Rows {
  std::string body;
  BatchHeader header;
};
Rows u32Rows(const std::string& table, uint32_t first, uint32_t n) {
  Rows r;
  r.header = BatchHeader{table, {"d", "v"}, "RowBinary", n, {}, {}};
  for (uint32_t i = 0; i < n; ++i) {
    uint16_t day = 20000;
    uint32_t v = first + i;
    r.body.append(reinterpret_cast<const char*>(&day), 2);
    r.body.append(reinterpret_cast<const char*>(&v), 4);
    r.header.row_ends.push_back(static_cast<uint32_t>(r.body.size()));
    r.header.row_days.push_back(day);
  }
  return r;
}

DiskBufferOptions opts(const testing::TempDir& dir) {
  DiskBufferOptions o;
  o.dir = dir.path() / "buffer";
  o.fsync = FsyncPolicy::kNever;
  return o;
}

uint64_t recordedGroupLast(const DiskBufferOptions& o) {
  std::ifstream in(o.dir / "state.json");
  return nlohmann::json::parse(in).value("group_last", uint64_t{0});
}

TEST(BatchGroups, ConsecutiveBatchesOfOneTableMergeWithinTheLimitsAndRowEndsFollowTheBody) {
  testing::TempDir dir;
  DiskBuffer buf(opts(dir));
  auto a = u32Rows("t", 0, 3), b = u32Rows("t", 3, 2), c = u32Rows("t", 5, 4), other = u32Rows("u", 9, 1);
  buf.append(a.header, a.body);
  buf.append(b.header, b.body);
  buf.append(c.header, c.body);
  buf.append(other.header, other.body);
  // Rows bound: 3 + 2 fit in 6, the third batch would make 9.
  auto g = buf.nextGroup(0, {6, 1 << 20}, 0ms);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->seq, 1u);
  EXPECT_EQ(g->last_seq, 2u);
  EXPECT_EQ(g->header.rows, 5u);
  EXPECT_EQ(g->body, a.body + b.body);
  ASSERT_EQ(g->header.row_ends.size(), 5u);
  EXPECT_EQ(g->header.row_ends[3], a.body.size() + b.header.row_ends[0]);
  EXPECT_EQ(g->header.row_ends.back(), g->body.size());
  EXPECT_EQ(g->header.row_days.size(), 5u);
  EXPECT_EQ(recordedGroupLast(opts(dir)), 2u);  // recorded before it was handed out
  buf.commit(1, 2, true);
  EXPECT_EQ(buf.committedSeq(), 2u);
  EXPECT_EQ(recordedGroupLast(opts(dir)), 0u);
  // Another table ends a group.
  g = buf.nextGroup(2, {100, 1 << 20}, 0ms);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->seq, 3u);
  EXPECT_EQ(g->last_seq, 3u);
  EXPECT_EQ(g->body, c.body);
  // The bytes bound holds too.
  auto d = u32Rows("u", 10, 1);
  buf.append(d.header, d.body);
  buf.commit(3, true);
  g = buf.nextGroup(3, {100, other.body.size()}, 0ms);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->last_seq, 4u);
}

TEST(BatchGroups, AGroupHandedOutIsPinnedUntilCommittedEvenAsMoreBatchesArrive) {
  testing::TempDir dir;
  DiskBuffer buf(opts(dir));
  for (uint32_t i = 0; i < 2; ++i) {
    auto r = u32Rows("t", i * 10, 10);
    buf.append(r.header, r.body);
  }
  auto g = buf.nextGroup(0, {1000, 1 << 20}, 0ms);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->last_seq, 2u);
  auto more = u32Rows("t", 20, 10);
  buf.append(more.header, more.body);
  // A retry after a failed attempt must carry the same range (and token).
  g = buf.nextGroup(0, {1000, 1 << 20}, 0ms);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->seq, 1u);
  EXPECT_EQ(g->last_seq, 2u);
  buf.commit(1, 2, true);
  g = buf.nextGroup(2, {1000, 1 << 20}, 0ms);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->seq, 3u);
  EXPECT_EQ(g->last_seq, 3u);
}

TEST(BatchGroups, ARecordedGroupIsReplayedWholeAndAnUnrecordedFirstBatchAlone) {
  testing::TempDir dir;
  {
    DiskBuffer buf(opts(dir));
    for (uint32_t i = 0; i < 3; ++i) {
      auto r = u32Rows("t", i * 10, 10);
      buf.append(r.header, r.body);
    }
    auto g = buf.nextGroup(0, {20, 1 << 20}, 0ms);  // 1..2 may reach the store, then the process dies
    ASSERT_TRUE(g);
    ASSERT_EQ(g->last_seq, 2u);
  }
  {
    DiskBuffer buf(opts(dir));
    auto r = u32Rows("t", 30, 10);
    buf.append(r.header, r.body);
    // Limits that would now take everything: the recorded range wins.
    auto g = buf.nextGroup(0, {1000, 1 << 20}, 0ms);
    ASSERT_TRUE(g);
    EXPECT_TRUE(g->recovered);
    EXPECT_EQ(g->seq, 1u);
    EXPECT_EQ(g->last_seq, 2u);
    // Sent as one batch (nothing recorded), then the process dies.
    buf.commit(1, 2, true);
    g = buf.nextGroup(2, {}, 0ms);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->last_seq, 3u);
  }
  {
    DiskBuffer buf(opts(dir));
    // Nothing recorded: batch 3 may have been in flight alone, so it goes alone.
    auto g = buf.nextGroup(2, {1000, 1 << 20}, 0ms);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->seq, 3u);
    EXPECT_EQ(g->last_seq, 3u);
    buf.commit(3, true);
    g = buf.nextGroup(3, {1000, 1 << 20}, 0ms);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->seq, 4u);
  }
}

TEST(BatchGroups, TheRvalueAppendTakesTheBodyOnlyWhenItKeepsIt) {
  testing::TempDir dir;
  auto o = opts(dir);
  o.memory_cache_bytes = 100;
  DiskBuffer buf(o);
  std::string small(60, 'a'), big(60, 'b');
  buf.append(BatchHeader{"t", {"x"}, "RowBinary", 1}, std::move(small));
  EXPECT_TRUE(small.empty());  // NOLINT(bugprone-use-after-move): taken into the memory cache
  buf.append(BatchHeader{"t", {"x"}, "RowBinary", 1}, std::move(big));
  EXPECT_EQ(big, std::string(60, 'b'));  // NOLINT(bugprone-use-after-move): no room in the cache, left as it was
  auto g = buf.nextGroup(1, {}, 0ms);  // read back from disk
  ASSERT_TRUE(g);
  EXPECT_EQ(g->body, std::string(60, 'b'));
}

// GroupLimits::linger: a group that can still grow waits for the batches
// that arrive, up to its first batch's age; one that cannot grow (full, or
// followed by a batch of another table) goes at once. The linger is an hour
// here, so a group handed out before its batches arrived, or a wait on a
// group that cannot grow, shows up as a wrong group or a hang (the futures'
// minute is a guard against hanging the suite, not a bound on speed).
TEST(BatchGroups, ALingeringGroupTakesTheBatchesThatArriveUntilItIsFull) {
  testing::TempDir dir;
  DiskBuffer buf(opts(dir));
  auto first = u32Rows("t", 0, 2);
  buf.append(first.header, first.body);
  auto group = std::async(std::launch::async, [&] { return buf.nextGroup(0, {6, 1 << 20, 1h}, 0ms); });
  // 2 + 2 rows: still room, the group keeps waiting; 2 more make it full.
  auto second = u32Rows("t", 2, 2), third = u32Rows("t", 4, 2);
  buf.append(second.header, second.body);
  EXPECT_EQ(group.wait_for(50ms), std::future_status::timeout);
  buf.append(third.header, third.body);
  ASSERT_EQ(group.wait_for(60s), std::future_status::ready);
  auto g = group.get();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->seq, 1u);
  EXPECT_EQ(g->last_seq, 3u);
  EXPECT_EQ(g->body, first.body + second.body + third.body);
}

TEST(BatchGroups, AGroupThatCannotGrowIsNotHeldByTheLinger) {
  testing::TempDir dir;
  DiskBuffer buf(opts(dir));
  // Followed by another table's batch: nothing more can join it.
  auto a = u32Rows("t", 0, 2), other = u32Rows("u", 0, 1);
  buf.append(a.header, a.body);
  buf.append(other.header, other.body);
  auto g = std::async(std::launch::async, [&] { return buf.nextGroup(0, {100, 1 << 20, 1h}, 0ms); });
  ASSERT_EQ(g.wait_for(60s), std::future_status::ready);
  EXPECT_EQ(g.get()->last_seq, 1u);
  // Full by bytes on its own.
  auto big = u32Rows("t", 10, 50);
  buf.append(big.header, big.body);
  auto h = std::async(std::launch::async, [&] { return buf.nextGroup(2, {100, 10, 1h}, 0ms); });
  ASSERT_EQ(h.wait_for(60s), std::future_status::ready);
  EXPECT_EQ(h.get()->seq, 3u);
  // Still room, but the buffer closes: handed out rather than held.
  auto lone = u32Rows("t", 99, 1);
  buf.append(lone.header, lone.body);
  auto k = std::async(std::launch::async, [&] { return buf.nextGroup(3, {100, 1 << 20, 1h}, 0ms); });
  EXPECT_EQ(k.wait_for(50ms), std::future_status::timeout);
  buf.close();
  ASSERT_EQ(k.wait_for(60s), std::future_status::ready);
  auto kg = k.get();
  ASSERT_TRUE(kg);
  EXPECT_EQ(kg->seq, 4u);
}

class GroupSenderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { store_ = testing::openEmbeddedStore("kobs_group_sender").release(); }
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
    so_.merge_max_rows = 1000;
    so_.merge_max_bytes = 1 << 20;
  }

  uint64_t scalar(const std::string& sql) {
    return std::stoull(store_->query(sql, "TabSeparated").data);
  }

  static inline store::EmbeddedStore* store_ = nullptr;
  testing::TempDir dir_;
  std::string table_;
  DiskBufferOptions bo_;
  SenderOptions so_;
};

TEST_F(GroupSenderTest, WaitingBatchesGoInOneInsertAndEveryCallbackRunsInOrder) {
  DiskBuffer buffer(bo_);
  std::vector<int> fired;
  std::mutex m;
  for (int i = 0; i < 8; ++i) {
    auto r = u32Rows(table_, i * 10, 10);
    buffer.append(r.header, r.body, [&, i](bool ok) {
      std::lock_guard lock(m);
      fired.push_back(ok ? i : -1);
    });
  }
  StoreSender sender(*store_, buffer, so_);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return buffer.committedSeq() == 8; }));
  sender.stop();
  EXPECT_EQ(sender.stats().inserts_committed.load(), 1u);
  EXPECT_EQ(sender.stats().batches_committed.load(), 8u);
  EXPECT_EQ(sender.stats().rows_committed.load(), 80u);
  EXPECT_EQ(fired, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(scalar("SELECT count() FROM " + table_), 80u);
  EXPECT_EQ(scalar("SELECT uniqExact(v) FROM " + table_), 80u);
}

TEST_F(GroupSenderTest, AGroupStoredButNotRecordedIsDeduplicatedWhenReplayedAfterACrash) {
  {
    DiskBuffer buffer(bo_);
    for (int i = 0; i < 3; ++i) {
      auto r = u32Rows(table_, i * 10, 10);
      buffer.append(r.header, r.body);
    }
    // The commit record cannot be written (EISDIR): the insert stands, the
    // buffer does not know it, as after a crash right after the insert.
    StoreSender sender(*store_, buffer, so_);
    // Hand the group out (and record it) first, then break the commit record.
    auto g = buffer.nextGroup(0, {so_.merge_max_rows, so_.merge_max_bytes}, 0ms);
    ASSERT_TRUE(g);
    ASSERT_EQ(g->last_seq, 3u);
    fs::create_directories(bo_.dir / "state.json.tmp");
    sender.start();
    ASSERT_TRUE(waitFor([&] { return sender.stats().commit_errors.load() >= 1; }));
    sender.stop();
    EXPECT_EQ(scalar("SELECT count() FROM " + table_), 30u);
    EXPECT_EQ(buffer.committedSeq(), 0u);
  }
  fs::remove_all(bo_.dir / "state.json.tmp");
  DiskBuffer buffer(bo_);
  auto r = u32Rows(table_, 30, 10);
  buffer.append(r.header, r.body);
  StoreSender sender(*store_, buffer, so_);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return buffer.committedSeq() == 4; }));
  sender.stop();
  EXPECT_EQ(sender.stats().rows_deduplicated.load(), 30u);  // the group again, same range, same token
  EXPECT_EQ(sender.stats().rows_committed.load(), 10u);
  EXPECT_EQ(scalar("SELECT count() FROM " + table_), 40u);
  EXPECT_EQ(scalar("SELECT uniqExact(v) FROM " + table_), 40u);
}

}  // namespace
}  // namespace kobs::pipeline
