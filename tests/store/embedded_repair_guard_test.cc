// The deduplication-log repair (dedup_log_repair.h) runs only on a path no
// engine has open: a second store of the same process (tests share one data
// dir) must not take the running engine's inserts in flight for crash
// leftovers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/embedded/embedded_store.h"
#include "support/embedded_store.h"

namespace kobs::store {
namespace {

namespace fs = std::filesystem;

TEST(EmbeddedStoreRepairGuard, NotWhileAnEngineRunsOnThePath) {
  auto first = testing::openEmbeddedStore("guard_a");
  // A table whose log names a part that is not on disk, as an insert in
  // flight looks from outside.
  const fs::path table = fs::path(testing::embeddedDataDir()) / "clickhouse/store/zzz/zzz00000-0000-0000-0000-000000000000";
  fs::create_directories(table / "deduplication_logs");
  std::ofstream(table / "format_version.txt") << "1";
  std::ofstream(table / "deduplication_logs/deduplication_log_1.txt") << "1\t20251124_3_3_0\tblock\n";
  auto second = testing::openEmbeddedStore("guard_b");
  EXPECT_FALSE(fs::exists(table / "deduplication_logs/deduplication_log_2.txt"))
      << "the repair ran while an engine had the path open";
  fs::remove_all(table);
}

}  // namespace
}  // namespace kobs::store
