// The statements the write path of the ClickHouse-compatible endpoint takes
// from a node agent's ClickHouse store (store/clickhouse/http_store.h), and
// nothing else:
//   INSERT INTO [db.]table [(c1, c2, ...)] FORMAT RowBinary
//       the rows follow in the request body (never inline);
//   CREATE DATABASE|TABLE|VIEW|MATERIALIZED VIEW IF NOT EXISTS [db.]name ...
//       the agent's schema step; taken when the object exists already;
//   ALTER TABLE [db.]table MODIFY SETTING non_replicated_deduplication_window = N
//       the agent's dedup-window step; taken when the table has a window.
// This only parses (with store/sql_guard's lexer, ClickHouse's lexical
// rules); WritePath decides against the store whether the object exists.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kobs::serve::chcompat {

struct WriteStatement {
  enum class Kind : uint8_t { kInsert = 0, kCreate = 1, kAlterDeduplicationWindow = 2 };
  Kind kind = Kind::kInsert;
  std::string database;              // "" when the statement names none
  std::string name;                  // table or view; the database for CREATE DATABASE
  std::string object;                // CREATE: "DATABASE", "TABLE", "VIEW", "MATERIALIZED VIEW"
  std::vector<std::string> columns;  // INSERT: the column list ("" none: all columns)
  std::string format;                // INSERT: the input format
  uint64_t window = 0;               // ALTER: the window asked for
};

struct WriteRefusal {
  int code = 0;        // ClickHouse error code
  std::string name;    // its name (SYNTAX_ERROR, ACCESS_DENIED, ...)
  std::string reason;  // counter label: syntax, statement, format
  std::string message;
  // "Code: N. DB::Exception: <message>. (NAME)"
  std::string text() const;
};

// True when `sql` starts (after whitespace and comments) with INSERT, CREATE
// or ALTER: the statements the write path answers for.
bool isWriteStatement(std::string_view sql);
// That first word, upper-cased ("INSERT", "CREATE", "ALTER"), or "".
std::string writeStatementWord(std::string_view sql);

std::variant<WriteStatement, WriteRefusal> parseWriteStatement(std::string_view sql);

}  // namespace kobs::serve::chcompat
