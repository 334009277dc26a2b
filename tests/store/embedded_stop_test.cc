// The embedded store honours its stop token: an insert in flight is killed
// once the stop comes (so shutdown never waits on the engine), and no insert
// starts after it. The slow insert is real: a materialized view that sleeps
// per row keeps the engine inside the insert.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/stop.h"
#include "store/embedded/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::store {
namespace {

using namespace std::chrono_literals;

std::string u64Rows(uint64_t n) {
  std::string body;
  for (uint64_t i = 0; i < n; ++i) body.append(reinterpret_cast<const char*>(&i), 8);
  return body;
}

TEST(EmbeddedStoreStop, AnInsertInFlightIsKilledAndNoneStartsAfterTheStop) {
  testing::TempDir dir;
  StopSource stop;
  EmbeddedOptions o;
  o.data_dir = dir.str();
  o.database = "stoptest";
  o.stop = stop.token();
  EmbeddedStore store(o);
  store.execute("CREATE TABLE src (x UInt64) ENGINE = MergeTree ORDER BY x");
  store.execute("CREATE TABLE sink (x UInt64) ENGINE = MergeTree ORDER BY x");
  // One second per row: 120 rows keep the insert in the engine for two minutes.
  store.execute("CREATE MATERIALIZED VIEW slow TO sink AS SELECT x FROM src WHERE sleepEachRow(1) = 0");

  InsertRequest req{.table = "src", .columns = {"x"}, .body = "", .rows = 120};
  const std::string body = u64Rows(120);
  req.body = body;
  // One row per block, so the engine looks for a kill between rows.
  req.settings = {{"function_sleep_max_microseconds_per_block", "1000000000"},
                  {"max_insert_block_size", "1"},
                  {"min_insert_block_size_rows", "0"},
                  {"min_insert_block_size_bytes", "0"},
                  {"min_insert_block_size_rows_for_materialized_views", "0"},
                  {"min_insert_block_size_bytes_for_materialized_views", "0"}};
  auto running = std::async(std::launch::async, [&] { return store.insert(req); });
  // Stop once the engine runs it.
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < give_up &&
         store.query("SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO `stoptest`.`src`%'",
                     "TabSeparated")
                 .data != "1\n")
    std::this_thread::sleep_for(20ms);
  stop.requestStop();
  try {
    running.get();
    FAIL() << "the insert ran to its end despite the stop";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kShuttingDown) << e.what();
  }

  try {
    InsertRequest later{.table = "sink", .columns = {"x"}, .body = body, .rows = 120};
    store.insert(later);
    FAIL() << "an insert started after the stop";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kShuttingDown) << e.what();
  }
  // Reads still work (a caller may read while shutting down).
  EXPECT_EQ(store.query("SELECT count() FROM sink WHERE x >= 1000", "TabSeparated").data, "0\n");
}

}  // namespace
}  // namespace kobs::store
