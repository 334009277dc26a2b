#include <gtest/gtest.h>

#include "common/error.h"
#include "store/embedded/embedded_store.h"
#include "support/embedded_store.h"

namespace kobs::store {
namespace {

// One engine per test binary (chDB boots once per process).
class EmbeddedStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { store_ = testing::openEmbeddedStore("kobs_test").release(); }
  static void TearDownTestSuite() { delete store_; }
  static inline EmbeddedStore* store_ = nullptr;
};

TEST_F(EmbeddedStoreTest, QueryReturnsRequestedFormat) {
  auto r = store_->query("SELECT 1 AS x, 'a' AS y", "JSONEachRow");
  EXPECT_EQ(r.data, "{\"x\":1,\"y\":\"a\"}\n");
}

TEST_F(EmbeddedStoreTest, SqlErrorCarriesClickhouseCode) {
  try {
    store_->query("SELECT * FROM no_such_table", "TabSeparated");
    FAIL() << "expected an exception";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kStoreQuery);
    EXPECT_EQ(e.clickhouseCode(), 60) << e.what();
  }
}

TEST_F(EmbeddedStoreTest, StreamingRowBinaryInsertWithDedupToken) {
  store_->execute(
      "CREATE TABLE t_dedup (a UInt32, s String) ENGINE = MergeTree ORDER BY a "
      "SETTINGS non_replicated_deduplication_window = 1000");
  std::string body;
  for (uint32_t i = 0; i < 3; ++i) {
    body.append(reinterpret_cast<const char*>(&i), 4);
    body.push_back(char(1));
    body.push_back('x');
  }
  InsertRequest req{.table = "t_dedup", .columns = {"a", "s"}, .body = body, .rows = 3, .deduplication_token = "tok-1"};
  auto r1 = store_->insert(req);
  EXPECT_EQ(r1.rows_written, 3u);
  // A replay with the same token is accepted and stores nothing new.
  req.may_be_duplicate = true;
  EXPECT_NO_THROW(store_->insert(req));
  EXPECT_EQ(store_->query("SELECT count() FROM t_dedup", "TabSeparated").data, "3\n");
  // A different token is a different batch.
  req.deduplication_token = "tok-2";
  store_->insert(req);
  EXPECT_EQ(store_->query("SELECT count() FROM t_dedup", "TabSeparated").data, "6\n");
}

// Skip indexes are left to merges by default (store.embedded.skip_indexes_on_insert):
// an inserted part has none, a request may still ask for them, and a merge builds them.
TEST_F(EmbeddedStoreTest, SkipIndexesAreBuiltByMergesNotOnInsertByDefault) {
  store_->execute(
      "CREATE TABLE t_skip (a UInt32, s String, INDEX idx_s s TYPE bloom_filter(0.01) GRANULARITY 1) "
      "ENGINE = MergeTree ORDER BY a");
  std::string body;
  for (uint32_t i = 0; i < 100; ++i) {
    body.append(reinterpret_cast<const char*>(&i), 4);
    body.push_back(char(1));
    body.push_back(char('a' + i % 26));
  }
  auto indexBytes = [&] {
    return store_->query("SELECT sum(secondary_indices_compressed_bytes) > 0 FROM system.parts WHERE database = "
                         "currentDatabase() AND table = 't_skip' AND active",
                         "TabSeparated")
        .data;
  };
  store_->insert(InsertRequest{.table = "t_skip", .columns = {"a", "s"}, .body = body, .rows = 100});
  EXPECT_EQ(indexBytes(), "0\n") << "the inserted part has no skip index";
  InsertRequest with{.table = "t_skip", .columns = {"a", "s"}, .body = body, .rows = 100};
  with.settings.emplace_back("materialize_skip_indexes_on_insert", "1");
  store_->insert(with);
  EXPECT_EQ(indexBytes(), "1\n") << "a request's own setting wins";
  store_->execute("OPTIMIZE TABLE t_skip FINAL");
  EXPECT_EQ(store_->query("SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 't_skip' "
                          "AND active AND secondary_indices_compressed_bytes = 0",
                          "TabSeparated")
                .data,
            "0\n")
      << "the merged part has its index";
}

TEST(CheckRowsWritten, ShortWriteIsAnErrorUnlessAReplayWasDeduplicated) {
  InsertRequest req{.table = "t", .rows = 10};
  EXPECT_EQ(checkRowsWritten(req, 10).rows_written, 10u);
  EXPECT_EQ(checkRowsWritten(req, 12).rows_written, 12u);  // materialized views add rows
  EXPECT_THROW(checkRowsWritten(req, 9), Exception);
  EXPECT_THROW(checkRowsWritten(req, 0), Exception);
  req.deduplication_token = "t1";
  req.may_be_duplicate = true;
  EXPECT_TRUE(checkRowsWritten(req, 0).deduplicated);
  EXPECT_THROW(checkRowsWritten(req, 5), Exception);
}

TEST_F(EmbeddedStoreTest, InsertOfOneHundredThousandRowsIsNotCut) {
  store_->execute("CREATE TABLE t_big (a UInt32, s String) ENGINE = MergeTree ORDER BY a");
  std::string body;
  const std::string payload(300, 'p');
  for (uint32_t i = 0; i < 100000; ++i) {
    body.append(reinterpret_cast<const char*>(&i), 4);
    body.push_back(char(0xAC));  // varint 300
    body.push_back(char(0x02));
    body += payload;
  }
  auto r = store_->insert({.table = "t_big", .columns = {"a", "s"}, .body = body, .rows = 100000});
  EXPECT_EQ(r.rows_written, 100000u);
  EXPECT_EQ(store_->query("SELECT count(), sum(length(s)) FROM t_big", "TabSeparated").data, "100000\t30000000\n");
}

}  // namespace
}  // namespace kobs::store
