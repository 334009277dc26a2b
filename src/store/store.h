// IStore: the one interface between kobs and ClickHouse, whichever runs it.
//
// Responsibilities, and nothing else:
//   - run a statement that returns nothing (DDL, ALTER, SET-free admin);
//   - run a query and return its bytes in a named output format;
//   - insert a batch already encoded in a binary input format, and prove the
//     rows landed (a short write is an error, never a success).
// Implementations: store/embedded (chDB in-process) and store/clickhouse
// (a ClickHouse server over HTTP). Errors are kobs::Exception with a code from
// common/error.h; a ClickHouse exception code travels in clickhouseCode().
//
// Threading: every method may be called from any thread; implementations
// serialise internally where their backend requires it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace kobs::store {

// Per-query ClickHouse settings, sent as `SETTINGS k = v` or URL parameters.
using Settings = std::vector<std::pair<std::string, std::string>>;

struct QueryResult {
  std::string data;           // the result bytes, in the requested format
  uint64_t rows_read = 0;
  uint64_t bytes_read = 0;
  double elapsed_seconds = 0;
};

struct InsertRequest {
  std::string table;                 // unquoted name; the store qualifies it with its database
  std::vector<std::string> columns;  // insert column list, in body order
  std::string format = "RowBinary";  // ClickHouse input format of `body`
  std::string_view body;             // encoded rows
  uint64_t rows = 0;                 // rows encoded in `body`
  // When set, a repeated insert with the same token is dropped by ClickHouse
  // (needs non_replicated_deduplication_window on plain MergeTree tables).
  std::string deduplication_token;
  // This batch may already have been committed (replay after a crash, or a
  // retry after a lost response). Zero rows written then means "deduplicated",
  // which is success; on a first attempt it is a short write.
  bool may_be_duplicate = false;
  Settings settings;
};

struct InsertResult {
  uint64_t rows_written = 0;  // includes rows written by materialized views
  bool deduplicated = false;  // ClickHouse dropped the batch as already inserted
};

class IStore {
 public:
  virtual ~IStore() = default;

  // "embedded" or "clickhouse".
  virtual std::string_view kind() const = 0;
  // The database tables live in.
  virtual const std::string& database() const = 0;

  // Runs a statement whose result is ignored (DDL and the like).
  virtual void execute(std::string_view sql, const Settings& settings = {}) = 0;

  // Runs a query; `format` is a ClickHouse output format (JSON, JSONEachRow,
  // TabSeparated, RowBinary, ...). Do not put a FORMAT clause in `sql`.
  virtual QueryResult query(std::string_view sql, std::string_view format, const Settings& settings = {}) = 0;

  // Inserts one encoded batch. Throws kStoreShortWrite when fewer rows than
  // request.rows were written (unless the request may be a duplicate and
  // ClickHouse reported the whole batch deduplicated).
  virtual InsertResult insert(const InsertRequest& request) = 0;

  // Cheap reachability check; throws when the store cannot answer.
  virtual void ping() = 0;
};

// A short write, with what the store reported it wrote: the sender needs to
// know whether the store kept any of the rows (then only the same token may
// send them again) or none (then the rows may be split and sent anew).
class ShortWrite : public Exception {
 public:
  ShortWrite(uint64_t rows_sent, uint64_t rows_written, std::string message)
      : Exception(ErrorCode::kStoreShortWrite, std::move(message)), sent_(rows_sent), written_(rows_written) {}
  uint64_t rowsSent() const noexcept { return sent_; }
  uint64_t rowsWritten() const noexcept { return written_; }

 private:
  uint64_t sent_, written_;
};

// Shared rule for both stores: decide what a rows-written figure means.
// Throws ShortWrite (kStoreShortWrite) when it proves nothing or too little was stored.
InsertResult checkRowsWritten(const InsertRequest& request, uint64_t rows_written);

// "INSERT INTO `db`.`table` (`c1`, `c2`)": the statement head both stores send.
std::string insertStatement(std::string_view database, const InsertRequest& request);

// Quotes an identifier for ClickHouse SQL: `name`, with backquotes escaped.
std::string quoteIdentifier(std::string_view name);
// Quotes a string literal for ClickHouse SQL: 'text', with \ and ' escaped.
std::string quoteString(std::string_view value);

}  // namespace kobs::store
