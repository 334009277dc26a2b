#include "pipeline/disk_buffer.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <zlib.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "support/file_size_limit.h"
#include "support/temp_dir.h"

namespace kobs::pipeline {
namespace {

using namespace std::chrono_literals;

BatchHeader header(uint64_t rows) { return BatchHeader{"otel_logs", {"Timestamp", "Body"}, "RowBinary", rows}; }

DiskBufferOptions opts(const testing::TempDir& dir) {
  DiskBufferOptions o;
  o.dir = dir.path() / "buffer";
  o.fsync = FsyncPolicy::kNever;
  return o;
}

TEST(DiskBuffer, BatchesComeOutInOrderWithTheirHeaders) {
  testing::TempDir dir;
  DiskBuffer buf(opts(dir));
  EXPECT_EQ(buf.append(header(1), "a"), 1u);
  EXPECT_EQ(buf.append(header(2), "bb"), 2u);
  auto b1 = buf.next(0, 0ms);
  ASSERT_TRUE(b1);
  EXPECT_EQ(b1->seq, 1u);
  EXPECT_EQ(b1->body, "a");
  EXPECT_EQ(b1->header.columns, (std::vector<std::string>{"Timestamp", "Body"}));
  EXPECT_FALSE(b1->recovered);
  auto b2 = buf.next(1, 0ms);
  ASSERT_TRUE(b2);
  EXPECT_EQ(b2->header.rows, 2u);
  EXPECT_FALSE(buf.next(2, 0ms));
}

TEST(DiskBuffer, UncommittedBatchesAreReplayedAfterRestartWithTheSameInstance) {
  testing::TempDir dir;
  std::string instance;
  {
    DiskBuffer buf(opts(dir));
    instance = buf.instanceId();
    buf.append(header(1), "one");
    buf.append(header(1), "two");
    buf.append(header(1), "three");
    buf.commit(1);
  }
  DiskBuffer again(opts(dir));
  EXPECT_EQ(again.instanceId(), instance);
  EXPECT_EQ(again.committedSeq(), 1u);
  EXPECT_EQ(again.pendingBatches(), 2u);
  auto b = again.next(again.committedSeq(), 0ms);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->seq, 2u);
  EXPECT_EQ(b->body, "two");
  EXPECT_TRUE(b->recovered);
  // New batches continue the sequence, never reuse a number (tokens must stay unique).
  EXPECT_EQ(again.append(header(1), "four"), 4u);
}

TEST(DiskBuffer, TornTailIsTruncatedAndEarlierBatchesSurvive) {
  testing::TempDir dir;
  auto o = opts(dir);
  {
    DiskBuffer buf(o);
    buf.append(header(1), "intact");
    buf.append(header(1), std::string(1000, 'x'));
  }
  // Simulate a crash in the middle of the second append.
  std::filesystem::path seg;
  for (auto& f : std::filesystem::directory_iterator(o.dir))
    if (f.path().extension() == ".seg") seg = f.path();
  auto size = std::filesystem::file_size(seg);
  std::filesystem::resize_file(seg, size - 500);
  DiskBuffer again(o);
  EXPECT_EQ(again.stats().torn_tail_truncations.load(), 1u);
  EXPECT_EQ(again.pendingBatches(), 1u);
  auto b = again.next(0, 0ms);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->body, "intact");
  // The file was cut back to the last good record, so appends go on cleanly.
  again.append(header(1), "after");
  DiskBuffer third(o);
  EXPECT_EQ(third.pendingBatches(), 2u);
}

TEST(DiskBuffer, CorruptedBytesAreDetectedByChecksum) {
  testing::TempDir dir;
  auto o = opts(dir);
  { DiskBuffer buf(o); buf.append(header(1), "hello world"); }
  std::filesystem::path seg;
  for (auto& f : std::filesystem::directory_iterator(o.dir))
    if (f.path().extension() == ".seg") seg = f.path();
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('X');
  }
  DiskBuffer again(o);
  EXPECT_EQ(again.pendingBatches(), 0u);
}

TEST(DiskBuffer, AppendWaitsForSpaceThenFailsWhenFull) {
  testing::TempDir dir;
  auto o = opts(dir);
  o.max_bytes = 200;
  DiskBuffer buf(o);
  buf.append(header(1), std::string(100, 'a'));
  EXPECT_THROW(
      {
        try {
          buf.append(header(1), std::string(100, 'b'), {}, 50ms);
        } catch (const Exception& e) {
          EXPECT_EQ(e.code(), ErrorCode::kBufferFull);
          throw;
        }
      },
      Exception);
  // Committing frees space; a waiting append then goes through.
  std::thread committer([&] {
    std::this_thread::sleep_for(50ms);
    buf.commit(1);
  });
  EXPECT_NO_THROW(buf.append(header(1), std::string(100, 'c'), {}, 2000ms));
  committer.join();
  EXPECT_THROW(buf.append(header(1), std::string(500, 'd'), {}, 0ms), Exception);  // larger than the bound itself
}

TEST(DiskBuffer, CommitCallbacksRunInOrderOnlyOnceEarlierBatchesAreDone) {
  testing::TempDir dir;
  DiskBuffer buf(opts(dir));
  std::vector<int> fired;
  buf.append(header(1), "1", [&](bool ok) { fired.push_back(ok ? 1 : -1); });
  buf.append(header(1), "2", [&](bool ok) { fired.push_back(ok ? 2 : -2); });
  buf.commit(2);
  EXPECT_TRUE(fired.empty());  // batch 1 is not done yet
  buf.commit(1, false);        // dead-lettered
  EXPECT_EQ(fired, (std::vector<int>{-1, 2}));
  EXPECT_EQ(buf.committedSeq(), 2u);
  EXPECT_EQ(buf.pendingBytes(), 0u);
}

TEST(DiskBuffer, FullyCommittedSegmentsAreDeleted) {
  testing::TempDir dir;
  auto o = opts(dir);
  o.segment_bytes = 64;
  DiskBuffer buf(o);
  for (int i = 0; i < 5; ++i) buf.append(header(1), std::string(100, 'z'));
  auto count = [&] {
    int n = 0;
    for (auto& f : std::filesystem::directory_iterator(o.dir)) n += f.path().extension() == ".seg";  // the spare (spare-segment) is not one
    return n;
  };
  EXPECT_EQ(count(), 5);
  for (uint64_t s = 1; s <= 4; ++s) buf.commit(s);
  EXPECT_EQ(count(), 1);  // only the active segment remains
}

TEST(DiskBuffer, BodiesBeyondTheMemoryCacheAreReadBackFromDisk) {
  testing::TempDir dir;
  auto o = opts(dir);
  o.memory_cache_bytes = 10;
  DiskBuffer buf(o);
  buf.append(header(1), std::string(100, 'q'));
  auto b = buf.next(0, 0ms);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->body, std::string(100, 'q'));
}

// A cached body is moved to whoever takes the batch, not copied: taking the
// same batch again (uncommitted, e.g. after a sender stopped) reads it back
// from disk, shown here by a byte flipped on disk after the first take; and
// the budget it held is free for later batches, whole groups included.
TEST(DiskBuffer, ACachedBodyIsHandedOverAndATakeAgainReadsItFromDisk) {
  testing::TempDir dir;
  auto o = opts(dir);
  o.memory_cache_bytes = 1000;
  DiskBuffer buf(o);
  buf.append(header(1), std::string(600, 'q'));
  auto first = buf.next(0, 0ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, std::string(600, 'q'));
  EXPECT_TRUE(first->read_error.empty());
  std::filesystem::path seg;
  for (auto& f : std::filesystem::directory_iterator(o.dir))
    if (f.path().extension() == ".seg") seg = f.path();
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);  // the body's last byte
    f.put('x');
  }
  auto again = buf.next(0, 0ms);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->seq, first->seq);
  EXPECT_FALSE(again->read_error.empty());  // read from disk: the checksum caught the flipped byte
  EXPECT_EQ(buf.stats().read_errors.load(), 1u);
  // The 600 bytes handed over left the budget: the next 400 and 500 both fit
  // in memory (the 500 would not have beside a copy kept of the 600), so a
  // byte flipped on disk under the 500 is not seen, and both merge into one
  // group (row boundaries given) from memory.
  auto rows1 = [](size_t n) {
    BatchHeader h = header(1);
    h.row_ends = {static_cast<uint32_t>(n)};
    h.row_days = {0};
    return h;
  };
  buf.append(rows1(400), std::string(400, 'r'));
  buf.append(rows1(500), std::string(500, 's'));
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('x');
  }
  buf.commit(first->seq);
  auto group = buf.nextGroup(first->seq, {100, 1 << 20}, 0ms);
  ASSERT_TRUE(group);
  EXPECT_TRUE(group->read_error.empty()) << group->read_error;
  EXPECT_EQ(group->last_seq, group->seq + 1);
  EXPECT_EQ(group->body, std::string(400, 'r') + std::string(500, 's'));
}


std::filesystem::path onlySegment(const std::filesystem::path& dir) {
  std::filesystem::path seg;
  for (auto& f : std::filesystem::directory_iterator(dir))
    if (f.path().extension() == ".seg") seg = f.path();
  return seg;
}

TEST(DiskBuffer, PartialAppendIsRolledBackSoLaterRecordsSurviveARestart) {
  testing::TempDir dir;
  auto o = opts(dir);
  std::vector<int> fired;
  {
    DiskBuffer buf(o);
    buf.append(header(1), std::string(200, 'a'));
    auto seg = onlySegment(o.dir);
    const auto good = std::filesystem::file_size(seg);
    {
      testing::FileSizeLimit limit(good + 300);  // the next record is cut after 300 bytes
      try {
        buf.append(header(1), std::string(1000, 'b'), [&](bool) { fired.push_back(2); });
        FAIL() << "a cut append must fail";
      } catch (const Exception& e) {
        EXPECT_EQ(e.code(), ErrorCode::kIo) << e.what();
        EXPECT_NE(std::string(e.what()).find("rolled back"), std::string::npos) << e.what();
      }
    }
    EXPECT_EQ(std::filesystem::file_size(seg), good) << "the partial record must be cut";
    EXPECT_EQ(buf.stats().append_errors.load(), 1u);
    EXPECT_EQ(buf.pendingBatches(), 1u);
    const uint64_t third = buf.append(header(1), std::string(300, 'c'));
    EXPECT_EQ(third, 2u);  // the failed append's number never reached the store: numbers stay contiguous
  }
  DiskBuffer again(o);
  EXPECT_EQ(again.stats().torn_tail_truncations.load(), 0u);
  EXPECT_EQ(again.stats().corrupt_records.load(), 0u);
  ASSERT_EQ(again.pendingBatches(), 2u) << "the acknowledged record after the failed one must survive";
  auto b1 = again.next(0, 0ms);
  EXPECT_EQ(b1->body, std::string(200, 'a'));
  auto b3 = again.next(b1->seq, 0ms);
  EXPECT_EQ(b3->body, std::string(300, 'c'));
  EXPECT_TRUE(fired.empty());  // the failed append's callback was not kept
}

TEST(DiskBuffer, FailedCommitRecordKeepsTheBatchAndItsCallbacksUntilARetrySucceeds) {
  testing::TempDir dir;
  auto o = opts(dir);
  DiskBuffer buf(o);
  int fired = 0;
  buf.append(header(1), "x", [&](bool ok) { fired += ok; });
  std::filesystem::create_directories(o.dir / "state.json.tmp");  // the state write fails (EISDIR)
  EXPECT_THROW(buf.commit(1), Exception);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(buf.pendingBatches(), 1u);
  EXPECT_EQ(buf.committedSeq(), 0u);
  EXPECT_EQ(buf.stats().commit_errors.load(), 1u);
  std::filesystem::remove(o.dir / "state.json.tmp");
  buf.commit(1);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(buf.committedSeq(), 1u);
  EXPECT_EQ(buf.pendingBatches(), 0u);
}

TEST(DiskBuffer, RowBoundariesAndDaysSurviveTheLog) {
  testing::TempDir dir;
  auto o = opts(dir);
  BatchHeader h = header(3);
  h.row_ends = {10, 25, 40};
  h.row_days = {20000, 20000, 20001};
  { DiskBuffer buf(o); buf.append(h, std::string(40, 'r')); }
  DiskBuffer again(o);
  auto b = again.next(0, 0ms);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->header.row_ends, h.row_ends);
  EXPECT_EQ(b->header.row_days, h.row_days);
}

TEST(DiskBuffer, StatsAreReadableWhileAnAppendWaitsForSpace) {
  testing::TempDir dir;
  auto o = opts(dir);
  o.max_bytes = 300;
  DiskBuffer buf(o);
  buf.append(header(1), std::string(200, 'a'));
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    try {
      buf.append(header(1), std::string(200, 'b'), {}, 60000ms);
    } catch (const std::exception&) {
    }
    done = true;
  });
  // While the append waits, the getters /metrics uses and next() answer.
  while (buf.stats().full_waits.load() == 0) std::this_thread::yield();
  EXPECT_EQ(buf.pendingBatches(), 1u);
  EXPECT_TRUE(buf.next(0, 0ms));
  buf.commit(1);
  waiter.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(buf.pendingBatches(), 1u);
}

}  // namespace
}  // namespace kobs::pipeline

namespace kobs::pipeline {
namespace {

void copyDir(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  for (auto& f : std::filesystem::directory_iterator(from)) std::filesystem::copy_file(f.path(), to / f.path().filename());
}

// A committed segment is written over by a later one (segment recycling): the
// old records behind the new ones, whole ones with valid checksums included,
// are never replayed, whether the process stopped cleanly or crashed.
TEST(DiskBuffer, RecycledSegmentsNeverReplayTheirOldRecords) {
  testing::TempDir dir;
  auto o = opts(dir);
  o.segment_bytes = 200;  // two 100-byte bodies per segment
  auto seq_bodies = [](DiskBuffer& b) {
    std::vector<std::pair<uint64_t, std::string>> out;
    uint64_t after = 0;
    while (auto x = b.next(after, 0ms)) {
      out.emplace_back(x->seq, x->body);
      b.commit(x->seq);
      after = x->seq;
    }
    return out;
  };
  {
    DiskBuffer buf(o);
    buf.append(header(1), std::string(100, 'a'));  // 1, 2: wal-1
    buf.append(header(1), std::string(100, 'b'));
    buf.append(header(1), std::string(100, 'c'));  // 3, 4: wal-3
    buf.append(header(1), std::string(100, 'd'));
    buf.commit(1);
    buf.commit(2);
    EXPECT_TRUE(std::filesystem::exists(o.dir / "spare-segment"));  // wal-1 kept for reuse
    // wal-5 is the old wal-1 written over: record 5 has record 1's size, so
    // record 2 follows it whole, with a valid checksum.
    buf.append(header(1), std::string(100, 'e'));
    EXPECT_FALSE(std::filesystem::exists(o.dir / "spare-segment"));
    copyDir(o.dir, dir.path() / "crashed");  // what a crash leaves here
  }
  // Clean stop: the recycled segment was cut to its records at seal.
  {
    DiskBuffer again(o);
    EXPECT_EQ(again.stats().torn_tail_truncations.load(), 0u);
    EXPECT_EQ(again.stats().corrupt_records.load(), 0u);
    auto got = seq_bodies(again);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], (std::pair<uint64_t, std::string>{3, std::string(100, 'c')}));
    EXPECT_EQ(got[1], (std::pair<uint64_t, std::string>{4, std::string(100, 'd')}));
    EXPECT_EQ(got[2], (std::pair<uint64_t, std::string>{5, std::string(100, 'e')}));
  }
  // Crash before the seal: the old record 2 is behind record 5 in wal-5; replay stops there and cuts it.
  auto c = o;
  c.dir = dir.path() / "crashed";
  DiskBuffer crashed(c);
  EXPECT_EQ(crashed.stats().torn_tail_truncations.load(), 1u);
  EXPECT_EQ(crashed.stats().corrupt_records.load(), 0u);
  auto got = seq_bodies(crashed);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].first, 3u);
  EXPECT_EQ(got[1].first, 4u);
  EXPECT_EQ(got[2], (std::pair<uint64_t, std::string>{5, std::string(100, 'e')}));
  // Appends go on after the cut.
  EXPECT_EQ(crashed.append(header(1), "f"), 6u);
  auto f = crashed.next(5, 0ms);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->body, "f");
}

// Segments written before v4 (zlib's CRC-32) are still read after the switch to CRC-32C.
TEST(DiskBuffer, ReadsRecordsOfEarlierVersions) {
  testing::TempDir dir;
  auto o = opts(dir);
  o.memory_cache_bytes = 0;  // bodies are read back from disk too
  std::filesystem::create_directories(o.dir);
  {
    std::ofstream state(o.dir / "state.json");
    state << R"({"version":1,"instance":"0011223344556677","committed_seq":0})";
  }
  auto str = [](std::string& out, std::string_view s) {
    out.push_back(static_cast<char>(s.size()));  // short strings: one varint byte
    out += s;
  };
  std::string seg;
  for (uint64_t seq : {1ull, 2ull}) {
    // A v1 header (rows, table, format, columns) in a v3 record.
    std::string head(8, '\0');
    uint64_t rows = 1;
    std::memcpy(head.data(), &rows, 8);
    str(head, "otel_logs");
    str(head, "RowBinary");
    head.push_back(1);
    str(head, "Body");
    std::string body = "old body " + std::to_string(seq);
    std::string payload = head + body;
    uint32_t magic = 0x57424F4B, hlen = uint32_t(head.size()), blen = uint32_t(body.size());
    uint32_t crc = uint32_t(::crc32(0, reinterpret_cast<const Bytef*>(payload.data()), uInt(payload.size())));
    std::string fixed(28, '\0');
    std::memcpy(fixed.data(), &magic, 4);
    fixed[4] = 3;
    std::memcpy(fixed.data() + 8, &seq, 8);
    std::memcpy(fixed.data() + 16, &hlen, 4);
    std::memcpy(fixed.data() + 20, &blen, 4);
    std::memcpy(fixed.data() + 24, &crc, 4);
    seg += fixed + payload;
  }
  {
    std::ofstream out(o.dir / "wal-00000000000000000001.seg", std::ios::binary);
    out << seg;
  }
  DiskBuffer buf(o);
  EXPECT_EQ(buf.stats().recovered_batches.load(), 2u);
  EXPECT_EQ(buf.stats().corrupt_records.load() + buf.stats().torn_tail_truncations.load(), 0u);
  auto b1 = buf.next(0, 0ms);
  ASSERT_TRUE(b1);
  EXPECT_EQ(b1->body, "old body 1");
  EXPECT_EQ(b1->header.columns, std::vector<std::string>{"Body"});
  buf.commit(1);
  EXPECT_EQ(buf.append(header(1), "new"), 3u);  // v4 after v3, in a new segment
  auto b2 = buf.next(1, 0ms);
  ASSERT_TRUE(b2);
  EXPECT_EQ(b2->body, "old body 2");
  auto b3 = buf.next(2, 0ms);
  ASSERT_TRUE(b3);
  EXPECT_EQ(b3->body, "new");
}

}  // namespace
}  // namespace kobs::pipeline
