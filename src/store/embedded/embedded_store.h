// EmbeddedStore: ClickHouse in-process through chDB (libchdb.so, dlopen'd).
//
// Threading: chDB runs one statement at a time per connection, and the engine
// is booted once per process for one data path. The store holds one writer
// connection (DDL and inserts, serialised by a mutex) and a small pool of
// reader connections for queries, so reads never wait behind a long insert.
// All methods are thread-safe.
//
// Keep one EmbeddedStore per process for its whole life: closing the last
// chDB connection shuts the engine down, and reopening boots it again.
// Opening a writable store first repairs the tables' deduplication logs
// after a crash mid-insert (dedup_log_repair.h), so it must not be opened
// on a path another live engine is writing.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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
};

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

  EmbeddedOptions options_;
  std::shared_ptr<chdb::Library> lib_;
  std::mutex writer_mutex_;
  std::shared_ptr<Connection> writer_;
  std::unique_ptr<Pool> readers_;
};

}  // namespace kobs::store
