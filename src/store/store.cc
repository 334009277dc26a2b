#include "store/store.h"

#include "common/error.h"

namespace kobs::store {

InsertResult checkRowsWritten(const InsertRequest& request, uint64_t rows_written) {
  if (rows_written >= request.rows) return InsertResult{rows_written, false};
  if (rows_written == 0 && request.may_be_duplicate && !request.deduplication_token.empty())
    return InsertResult{0, true};
  throw ShortWrite(request.rows, rows_written,
                   fmt::format("short write into {}: {} rows sent, {} written", request.table, request.rows,
                               rows_written));
}

std::string insertStatement(std::string_view database, const InsertRequest& request) {
  std::string sql = "INSERT INTO " + quoteIdentifier(database) + "." + quoteIdentifier(request.table);
  if (!request.columns.empty()) {
    sql += " (";
    for (size_t i = 0; i < request.columns.size(); ++i) {
      if (i) sql += ", ";
      sql += quoteIdentifier(request.columns[i]);
    }
    sql += ")";
  }
  return sql;
}

std::string quoteIdentifier(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out.push_back('`');
  for (char c : name) {
    if (c == '`' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('`');
  return out;
}

std::string quoteString(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('\'');
  for (char c : value) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace kobs::store
