// EmbeddedStore: ClickHouse in-process through chDB (libchdb.so, dlopen'd).
//
// Threading: chDB runs one statement at a time per connection, and the engine
// is booted once per process for one data path. The store holds one writer
// connection (DDL and inserts, serialised by a mutex) and a small pool of
// reader connections for queries, so reads never wait behind a long insert.
// With a stop token (EmbeddedOptions::stop) a watcher thread and one more
// connection kill the insert in flight once the stop comes.
// All methods are thread-safe.
//
// Keep one EmbeddedStore per process for its whole life: closing the last
// chDB connection shuts the engine down, and reopening boots it again.
// Opening a writable store first repairs the tables' deduplication logs
// after a crash mid-insert (dedup_log_repair.h), so it must not be opened
// on a path another live engine is writing.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/stop.h"
#include "store/embedded/chdb_library.h"
#include "store/store.h"

namespace kobs::store {

struct EmbeddedOptions {
  std::string data_dir = "./data";   // ClickHouse data lives in <data_dir>/clickhouse
  std::string library_path;          // empty: resolveLibraryPath() default
  std::string database = "default";
  int reader_connections = 2;
  bool readonly = false;             // every connection opened with --readonly=<readonly_level>
  int readonly_level = 1;            // 1: no writes, no settings changes; 2: no writes
  // Build skip indexes (ClickStack's seven text indexes) while inserting. Off:
  // merges build them (every merge rebuilds them anyway), and an insert costs
  // 2.3x less CPU (docs/performance.md); parts not yet merged are read
  // without their skip indexes meanwhile. A request's own setting wins.
  bool skip_indexes_on_insert = false;
  // The engine's memory budget (store.embedded.max_memory), 0: chDB's own
  // defaults (90% of RAM, a 5 GiB mark cache, ...). It is the engine's hard
  // limit (max_server_memory_usage: a query or insert beyond it fails with
  // MEMORY_LIMIT_EXCEEDED, an insert is retried by the sender) and sizes its
  // caches as fractions of it (memoryBudgetArgs). Engine-wide: the first
  // store opened on a process boots the engine with its budget.
  uint64_t max_memory = 1ull << 30;
  // Shutdown: once it stops, insert() refuses to start (kShuttingDown) and an
  // insert in flight is killed (KILL QUERY by its log_comment tag, repeated
  // until it ends; it then throws kShuttingDown and nothing of it is stored),
  // so the sender never waits on the engine past the stop. Queries and DDL
  // are not interrupted: their callers bound them (max_execution_time).
  // Default: never stops.
  StopToken stop;
};

// The server settings a budget gives, as chDB connect arguments ("--" then
// "--name=value" pairs), empty for 0. Caches: marks 1/8, primary index 1/16,
// skip-index marks 1/16, text-index postings 1/16 and headers 1/32, query
// condition, compiled expressions and vector indexes 1/64 each, query cache
// 1/32; uncompressed caches off (ClickHouse's default). About 43% in all:
// the rest is for inserts, merges and queries.
std::vector<std::string> memoryBudgetArgs(uint64_t max_memory);

class EmbeddedStore final : public IStore {
 public:
  // Loads the library, boots the engine, creates the database if missing.
  explicit EmbeddedStore(EmbeddedOptions options);
  ~EmbeddedStore() override;

  std::string_view kind() const override { return "embedded"; }
  const std::string& database() const override { return options_.database; }
  void execute(std::string_view sql, const Settings& settings = {}) override;
  QueryResult query(std::string_view sql, std::string_view format, const Settings& settings = {}) override;
  InsertResult insert(const InsertRequest& request) override;
  void ping() override;

  // A further connection to the same engine with readonly=1 (or 2, which
  // lets queries change settings: for callers that vet them first, like the
  // ClickHouse-compatible endpoint with store/sql_guard), for serving
  // untrusted SQL (the ClickHouse-compatible endpoint, MCP).
  std::unique_ptr<IStore> openReadOnly(int connections = 2, int level = 1);

  std::string version() const;

 private:
  class Connection;
  class Pool;

  EmbeddedStore(std::shared_ptr<chdb::Library> lib, EmbeddedOptions options, std::shared_ptr<Connection> writer);

  void watchStop(std::stop_token st);

  EmbeddedOptions options_;
  std::shared_ptr<chdb::Library> lib_;
  std::mutex writer_mutex_;
  std::shared_ptr<Connection> writer_;
  std::unique_ptr<Pool> readers_;
  // Cancellation of inserts (only with a stop token that can stop).
  std::unique_ptr<Connection> killer_;  // runs KILL QUERY while the writer is busy
  std::string tag_prefix_;              // log_comment of this store's inserts without their own: <prefix><seq>
  uint64_t insert_seq_ = 0;             // writer_mutex_
  std::mutex inflight_mutex_;
  std::string inflight_tag_;            // the insert running now; "" when none
  std::jthread stop_watcher_;           // last: stopped and joined first
};

}  // namespace kobs::store
