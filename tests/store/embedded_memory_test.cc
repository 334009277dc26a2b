// store.embedded.max_memory: the engine boots with the budget as its hard
// memory limit and its caches sized from it, and enforces the limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "store/embedded/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::store {
namespace {

std::string setting(EmbeddedStore& store, const std::string& name) {
  auto r = store.query("SELECT value FROM system.server_settings WHERE name = '" + name + "'", "TabSeparated");
  if (!r.data.empty() && r.data.back() == '\n') r.data.pop_back();
  return r.data;
}

TEST(EmbeddedStoreMemory, TheBudgetBoundsTheEngineAndSizesItsCaches) {
  testing::TempDir dir;
  EmbeddedOptions o;
  o.data_dir = dir.str();
  o.database = "memtest";
  o.max_memory = 256ull << 20;
  EmbeddedStore store(o);
  EXPECT_EQ(setting(store, "max_server_memory_usage"), std::to_string(256ull << 20));
  EXPECT_EQ(setting(store, "mark_cache_size"), std::to_string(32ull << 20));
  EXPECT_EQ(setting(store, "primary_index_cache_size"), std::to_string(16ull << 20));
  EXPECT_EQ(setting(store, "index_mark_cache_size"), std::to_string(16ull << 20));
  EXPECT_EQ(setting(store, "text_index_postings_cache_size"), std::to_string(16ull << 20));
  EXPECT_EQ(setting(store, "uncompressed_cache_size"), "0");
  // A query that needs more than the whole budget fails with the engine's
  // memory error, and the engine keeps answering.
  try {
    store.query("SELECT length(groupArray(number)) FROM numbers(100000000)", "TabSeparated");
    ADD_FAILURE() << "a query over the budget succeeded";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("memory limit exceeded"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store.query("SELECT 1", "TabSeparated").data, "1\n");
}

TEST(EmbeddedStoreMemory, ZeroLeavesChdbsDefaults) {
  EXPECT_TRUE(memoryBudgetArgs(0).empty());
  const auto args = memoryBudgetArgs(1ull << 30);
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args.front(), "--");  // server settings follow the separator
  EXPECT_NE(std::find(args.begin(), args.end(), "--mark_cache_size=134217728"), args.end());
}

}  // namespace
}  // namespace kobs::store
