// StoreSender with several writers (sender.writers): inserts run in parallel,
// but a batch is acknowledged only once every earlier one is done, a failing
// batch k holds back the acknowledgement of k+1 (not its insert), and a
// process SIGKILLed with two inserts in flight stores every acknowledged
// record exactly once after its replay. The store is the real embedded one,
// one instance per writer over one engine, as kobs wires it.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/error.h"
#include "pipeline/disk_buffer.h"
#include "pipeline/store_sender.h"
#include "store/embedded/embedded_store.h"
#include "support/child_process.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"
#include "support/wait_for.h"

namespace kobs::pipeline {
namespace {

using namespace std::chrono_literals;

using kobs::testing::waitFor;

struct Rows {
  std::string body;
  BatchHeader header;
};
Rows u32Rows(const std::string& table, uint32_t first, uint32_t n) {
  Rows r;
  r.header = BatchHeader{table, {"v"}, "RowBinary", n, {}, {}};
  for (uint32_t v = first; v < first + n; ++v) {
    r.body.append(reinterpret_cast<const char*>(&v), 4);
    r.header.row_ends.push_back(static_cast<uint32_t>(r.body.size()));
    r.header.row_days.push_back(20000);
  }
  return r;
}

// FAKE (labelled): forwards to the embedded store, but refuses (as a
// retryable store error) every insert of the batch whose token ends in
// `-<held>` until released: a real ClickHouse cannot be made to refuse one
// chosen insert and take its neighbours.
class HoldingStore final : public store::IStore {
 public:
  HoldingStore(store::IStore& inner, std::string held_suffix) : inner_(inner), held_(std::move(held_suffix)) {}
  std::string_view kind() const override { return inner_.kind(); }
  const std::string& database() const override { return inner_.database(); }
  void execute(std::string_view sql, const store::Settings& s) override { inner_.execute(sql, s); }
  store::QueryResult query(std::string_view sql, std::string_view f, const store::Settings& s) override {
    return inner_.query(sql, f, s);
  }
  store::InsertResult insert(const store::InsertRequest& r) override {
    if (!released && r.deduplication_token.ends_with(held_)) {
      ++refused;
      throw Exception(ErrorCode::kStoreUnavailable, "injected: store refuses {} for now", r.deduplication_token);
    }
    return inner_.insert(r);
  }
  void ping() override { inner_.ping(); }
  std::atomic<bool> released{false};
  std::atomic<int> refused{0};

 private:
  store::IStore& inner_;
  std::string held_;
};

TEST(SenderWriters, AFailingBatchHoldsBackTheAcknowledgementOfLaterOnesNotTheirInserts) {
  auto first = testing::openEmbeddedStore("kobs_writers");
  auto second = testing::openEmbeddedStore("kobs_writers", 1);
  first->execute("CREATE TABLE t_order (v UInt32) ENGINE = MergeTree ORDER BY v "
                 "SETTINGS non_replicated_deduplication_window = 1000");
  testing::TempDir dir;
  DiskBufferOptions bo;
  bo.dir = dir.path() / "buffer";
  SenderOptions so;
  so.backoff_initial = 1ms;
  so.backoff_max = 20ms;
  so.writers = 2;
  DiskBuffer buffer(bo);
  std::mutex m;
  std::vector<int> acked;  // batch numbers in callback order
  constexpr int kBatches = 12;
  for (int b = 1; b <= kBatches; ++b) {
    auto rows = u32Rows("t_order", uint32_t(b) * 100, 10);
    buffer.append(rows.header, rows.body, [&, b](bool ok) {
      std::lock_guard lock(m);
      acked.push_back(ok ? b : -b);
    });
  }
  HoldingStore a(*first, "-3"), b(*second, "-3");  // batch 3 cannot be stored for now
  StoreSender sender(a, buffer, so);
  sender.setWriterStores({&b});
  sender.start();
  auto count = [&](const std::string& where) {
    return std::stoull(first->query("SELECT count() FROM t_order WHERE " + where, "TabSeparated").data);
  };
  // The other writer goes on: everything after batch 3 reaches the store...
  ASSERT_TRUE(waitFor([&] { return count("v >= 400") == (kBatches - 3) * 10u; }));
  EXPECT_GT(a.refused + b.refused, 0);
  EXPECT_EQ(count("v < 300"), 20u);
  EXPECT_EQ(count("v >= 300 AND v < 400"), 0u);
  // ...but nothing after it is acknowledged, or released from the buffer.
  EXPECT_EQ(buffer.committedSeq(), 2u);
  {
    std::lock_guard lock(m);
    EXPECT_EQ(acked, (std::vector<int>{1, 2}));
  }
  a.released = b.released = true;
  ASSERT_TRUE(waitFor([&] { return buffer.committedSeq() == uint64_t(kBatches); }));
  sender.stop();
  std::vector<int> expected;
  for (int i = 1; i <= kBatches; ++i) expected.push_back(i);
  std::lock_guard lock(m);
  EXPECT_EQ(acked, expected) << "acknowledged in sequence, each once";
  EXPECT_EQ(count("1"), kBatches * 10u);
  EXPECT_EQ(first->query("SELECT uniqExact(v) FROM t_order", "TabSeparated").data,
            std::to_string(kBatches * 10) + "\n");
}

// Batch 3 cannot be stored, 4..12 are, by the other writer; the process
// stops there (the watermark at 2) and restarts with merging on: the ranges
// stored above the watermark replay as they were sent, with their tokens,
// and are deduplicated, not regrouped under new tokens and stored again.
TEST(SenderWriters, RangesStoredAboveTheWatermarkReplayAsTheyWereSentAfterARestart) {
  auto first = testing::openEmbeddedStore("kobs_writers_replay");
  auto second = testing::openEmbeddedStore("kobs_writers_replay", 1);
  first->execute("CREATE TABLE t_replay (v UInt32) ENGINE = MergeTree ORDER BY v "
                 "SETTINGS non_replicated_deduplication_window = 1000");
  testing::TempDir dir;
  DiskBufferOptions bo;
  bo.dir = dir.path() / "buffer";
  SenderOptions so;
  so.backoff_initial = 1ms;
  so.backoff_max = 20ms;
  so.writers = 2;
  constexpr int kBatches = 12;
  auto count = [&](const std::string& what) {
    return first->query("SELECT " + what + " FROM t_replay", "TabSeparated").data;
  };
  {
    DiskBuffer buffer(bo);
    for (int b = 1; b <= kBatches; ++b) {
      auto rows = u32Rows("t_replay", uint32_t(b) * 100, 10);
      buffer.append(rows.header, rows.body);
    }
    HoldingStore a(*first, "-3"), b(*second, "-3");
    StoreSender sender(a, buffer, so);
    sender.setWriterStores({&b});
    sender.start();
    ASSERT_TRUE(waitFor([&] { return count("count()") == std::to_string((kBatches - 1) * 10) + "\n"; }));
    sender.stop();
    EXPECT_EQ(buffer.committedSeq(), 2u);
  }
  so.merge_max_rows = 1000;  // the restart merges what waits: a new grouping, if the ranges were not recorded
  so.merge_max_bytes = 1u << 20;
  DiskBuffer buffer(bo);
  EXPECT_EQ(buffer.committedSeq(), 2u);
  StoreSender sender(*first, buffer, so);
  sender.setWriterStores({second.get()});
  sender.start();
  ASSERT_TRUE(waitFor([&] { return buffer.committedSeq() == uint64_t(kBatches); }));
  sender.stop();
  EXPECT_EQ(count("count(), uniqExact(v)"), fmt::format("{}\t{}\n", kBatches * 10, kBatches * 10))
      << "every row once";
  EXPECT_EQ(sender.stats().rows_deduplicated.load(), uint64_t(kBatches - 3) * 10);
}

std::string childPath() { return (testing::binaryDir() / "tests/pipeline/pipeline_crash_child").string(); }

// Two writers, the process killed (SIGKILL, or _exit right after an insert
// the buffer has not recorded) with two inserts in flight, four times, then
// drained: every acknowledged record stored, none twice.
TEST(SenderWriters, KilledWithTwoInsertsInFlightStoresEveryAcknowledgedRecordOnce) {
  ::setenv("KOBS_CRASH_WRITERS", "2", 1);
  testing::TempDir dir;
  std::mt19937 rng(4242);
  std::set<long> acked;
  constexpr long kTotal = 84000, kRounds = 7;
  long next = 0;
  for (int round = 0; round < kRounds; ++round) {
    const long last = round + 1 == kRounds ? kTotal : next + kTotal / kRounds;
    const bool dies_after_insert = round % 2 == 0 && round + 1 < kRounds;
    std::uniform_int_distribution<int> inserts(1, 2);
    testing::ChildProcess child({childPath(), "write", dir.str(), std::to_string(next), std::to_string(last),
                                 std::to_string(dies_after_insert ? inserts(rng) : 0)});
    std::uniform_int_distribution<int> kill_after(5, 40);
    const int target = round + 1 == kRounds || dies_after_insert ? -1 : kill_after(rng);
    char line[128];
    int acks = 0;
    while (std::fgets(line, sizeof line, child.out())) {
      long from, to;
      if (std::sscanf(line, "ack %ld %ld", &from, &to) == 2) {
        for (long i = from; i < to; ++i) acked.insert(i);
        if (++acks == target) {
          child.kill(SIGKILL);
          break;
        }
      }
    }
    const int status = child.wait();
    if (round + 1 == kRounds) {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "final writer failed";
    }
    if (dies_after_insert) {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 9) << "child did not die on cue";
    }
    next = last;
  }
  testing::ChildProcess drain({childPath(), "drain", dir.str()});
  const int status = drain.wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ::unsetenv("KOBS_CRASH_WRITERS");

  store::EmbeddedOptions o;
  o.data_dir = dir.str();
  o.database = "crash";
  store::EmbeddedStore store(o);
  const auto counts =
      store.query("SELECT count(), uniqExact(LogAttributes['id']) FROM otel_logs", "TabSeparated").data;
  const auto tab = counts.find('\t');
  const uint64_t total = std::stoull(counts.substr(0, tab)), distinct = std::stoull(counts.substr(tab + 1));
  EXPECT_EQ(total, distinct) << "records stored more than once";
  auto ids = store.query("SELECT LogAttributes['id'] FROM otel_logs", "TabSeparated").data;
  std::set<long> stored;
  for (size_t pos = 0; pos < ids.size();) {
    auto nl = ids.find('\n', pos);
    stored.insert(std::stol(ids.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  size_t missing = 0;
  for (long id : acked) missing += stored.count(id) == 0;
  EXPECT_EQ(missing, 0u) << "acknowledged records missing from the store";
  EXPECT_GE(acked.size(), size_t(kTotal / kRounds));
}

}  // namespace
}  // namespace kobs::pipeline
