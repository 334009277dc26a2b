// repairTableDeduplicationLog on table directories laid out as the engine
// leaves them after a crash (part directories, tmp_insert_* leftovers and
// deduplication logs in the engine's format). The end-to-end case, a real
// chDB killed mid-insert and its batch replayed, is
// tests/pipeline/store_crash_test.cc.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/embedded/dedup_log_repair.h"
#include "support/temp_dir.h"

namespace kobs::store {
namespace {

namespace fs = std::filesystem;

void writeFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DedupLogRepair : public ::testing::Test {
 protected:
  void SetUp() override {
    table = dir.path() / "store" / "abc" / "abc12345-0000-0000-0000-000000000000";
    fs::create_directories(table / "deduplication_logs");
    writeFile(table / "format_version.txt", "1");
  }
  void part(const std::string& name) { fs::create_directories(table / name); }
  fs::path log(int n) const { return table / "deduplication_logs" / ("deduplication_log_" + std::to_string(n) + ".txt"); }

  testing::TempDir dir;
  fs::path table;
};

TEST_F(DedupLogRepair, CancelsOnlyRecordsWhosePartNeverLanded) {
  part("20251124_1_1_0");
  part("20251124_2_2_0");
  part("tmp_insert_20251124_3_3_0");  // the crash hit between the record and this rename
  writeFile(log(1),
            "1\t20251124_1_1_0\t20251124_11_12\n"
            "1\t20251124_2_2_0\t20251124_21_22\n"
            "1\t20251124_3_3_0\t20251124_31_32\n");
  auto r = repairTableDeduplicationLog(table);
  ASSERT_EQ(r.dropped_parts, std::vector<std::string>{"20251124_3_3_0"});
  EXPECT_EQ(readFile(log(2)), "2\t20251124_3_3_0\t20251124_31_32\n");
  EXPECT_EQ(readFile(log(1)).size(), 3u * 32u) << "the engine's own log is left as it was";

  // Run again (the next start): the drop is in effect, nothing more to do.
  auto again = repairTableDeduplicationLog(table);
  EXPECT_TRUE(again.dropped_parts.empty());
  EXPECT_FALSE(fs::exists(log(3)));
}

TEST_F(DedupLogRepair, APartMergedOrMutatedIntoAnotherStillCountsAsLanded) {
  part("20251124_1_4_2");      // a merge of blocks 1..4
  part("20251125_7_7_0_9");    // block 7 after mutation 9
  writeFile(log(1),
            "1\t20251124_1_1_0\ta\n"
            "1\t20251124_4_4_0\tb\n"
            "1\t20251125_7_7_0\tc\n"
            "1\t20251125_8_8_0\td\n"    // same partition, outside every part: lost
            "1\t20251126_1_1_0\te\n");  // a partition with no part at all: lost
  auto r = repairTableDeduplicationLog(table);
  EXPECT_EQ(r.dropped_parts, (std::vector<std::string>{"20251125_8_8_0", "20251126_1_1_0"}));
  EXPECT_EQ(readFile(log(2)), "2\t20251125_8_8_0\td\n2\t20251126_1_1_0\te\n");
}

TEST_F(DedupLogRepair, RecordsAlreadyDroppedOrInOlderLogsAreReadInOrder) {
  writeFile(log(3), "1\t20251124_5_5_0\tx\n2\t20251124_5_5_0\tx\n");  // dropped by the engine itself
  writeFile(log(10), "1\t20251124_6_6_0\ty\n");  // numbered logs, not names, give the order
  writeFile(table / "deduplication_logs" / "unrelated.bin", "1\t20251124_9_9_0\tz\n");
  auto r = repairTableDeduplicationLog(table);
  EXPECT_EQ(r.dropped_parts, std::vector<std::string>{"20251124_6_6_0"});
  EXPECT_EQ(readFile(log(11)), "2\t20251124_6_6_0\ty\n");
}

TEST_F(DedupLogRepair, ARecordCutByTheCrashStartsAFreshLog) {
  part("20251124_1_1_0");
  writeFile(log(1), "1\t20251124_1_1_0\ta\n1\t20251124_2_2_0\tb");  // the second record is cut
  auto r = repairTableDeduplicationLog(table);
  EXPECT_TRUE(r.dropped_parts.empty()) << "a cut record is not in effect: nothing to cancel";
  ASSERT_TRUE(fs::exists(log(2))) << "the engine must not append behind the cut record";
  EXPECT_EQ(readFile(log(2)), "");
}

TEST_F(DedupLogRepair, TablesInAnotherFormatOrWithoutLogsAreLeftAlone) {
  writeFile(table / "format_version.txt", "0");
  writeFile(log(1), "1\t20251124_3_3_0\ta\n");
  EXPECT_TRUE(repairTableDeduplicationLog(table).dropped_parts.empty());
  EXPECT_FALSE(fs::exists(log(2)));
  EXPECT_TRUE(repairTableDeduplicationLog(dir.path() / "no-such-table").dropped_parts.empty());
}

TEST_F(DedupLogRepair, TheWholeEnginePathIsSearched) {
  writeFile(log(1), "1\t20251124_3_3_0\ta\n");
  const fs::path ordinary = dir.path() / "data" / "db" / "t";
  fs::create_directories(ordinary / "deduplication_logs");
  writeFile(ordinary / "format_version.txt", "1");
  writeFile(ordinary / "deduplication_logs" / "deduplication_log_1.txt", "1\tall_2_2_0\tb\n");
  auto all = repairDeduplicationLogs(dir.path());
  ASSERT_EQ(all.size(), 2u);
  size_t dropped = 0;
  for (const auto& r : all) dropped += r.dropped_parts.size();
  EXPECT_EQ(dropped, 2u);
}

}  // namespace
}  // namespace kobs::store
