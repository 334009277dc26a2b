// Checks a rule's SQL fragment (`where`, `value`, a groupBy expression)
// before it is spliced into a query: it must lex with ClickHouse's rules
// (store/sql_guard/sql_lexer.h), be one expression (no `;`, no SELECT, FROM,
// SETTINGS, FORMAT, no subquery), call no table function that reaches files,
// URLs or servers, and name only columns the table has. The column check is
// what lets a rule with a typo fail at load with the column's name rather
// than at 3 a.m. with a ClickHouse error.
//
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kobs::alert {

struct ExpressionCheck {
  std::optional<std::string> error;  // set: refused, with why
  std::vector<std::string> columns;  // column names the expression reads
};

ExpressionCheck checkExpression(std::string_view sql, const std::vector<std::string>& table_columns);

}  // namespace kobs::alert
