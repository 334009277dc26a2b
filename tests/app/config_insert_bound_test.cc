// The sender's merged-insert bound (sender.max_insert_bytes) as loadConfig
// resolves it: 0 means larger inserts on the embedded store and the batch
// size on a server (an agent's memory), never below batch.max_bytes.
// And sender.writers (parallel inserts), bounded.
#include <gtest/gtest.h>

#include "app/config.h"
#include "common/error.h"

namespace kobs::app {
namespace {

TEST(ConfigInsertBound, ZeroMeansEightMiBOnTheEmbeddedStoreAndTheBatchSizeOnAServer) {
  auto embedded = loadConfig(std::nullopt, {"store.kind=embedded"}, std::nullopt);
  EXPECT_EQ(embedded.pipeline.sender.merge_max_bytes, 8ull << 20);
  EXPECT_EQ(embedded.pipeline.sender.merge_max_rows, embedded.pipeline.batch.max_rows);
  auto server = loadConfig(std::nullopt, {"store.kind=clickhouse", "store.clickhouse.url=http://127.0.0.1:1"},
                           std::nullopt);
  EXPECT_EQ(server.pipeline.sender.merge_max_bytes, server.pipeline.batch.max_bytes);
  auto set = loadConfig(std::nullopt, {"store.kind=clickhouse", "store.clickhouse.url=http://127.0.0.1:1",
                                       "sender.max_insert_bytes=1MiB", "batch.max_bytes=3MiB"},
                        std::nullopt);
  EXPECT_EQ(set.pipeline.sender.merge_max_bytes, 3ull << 20);  // never below a batch
}

TEST(ConfigInsertBound, SenderWritersDefaultsToOneAndIsBounded) {
  EXPECT_EQ(loadConfig(std::nullopt, {}, std::nullopt).pipeline.sender.writers, 1);
  EXPECT_EQ(loadConfig(std::nullopt, {"sender.writers=2"}, std::nullopt).pipeline.sender.writers, 2);
  EXPECT_THROW(loadConfig(std::nullopt, {"sender.writers=0"}, std::nullopt), Exception);
  EXPECT_THROW(loadConfig(std::nullopt, {"sender.writers=17"}, std::nullopt), Exception);
}

}  // namespace
}  // namespace kobs::app
