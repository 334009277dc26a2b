#include "alert/expression.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "store/sql_guard/sql_guard.h"
#include "store/sql_guard/sql_lexer.h"

namespace kobs::alert {

namespace sg = kobs::store::sql_guard;

namespace {

// Words that are syntax, not column names, inside an expression.
bool isExpressionKeyword(std::string_view w) {
  static const char* const kWords[] = {
      "AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE",
      "END", "TRUE", "FALSE", "INTERVAL", "SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER",
      "YEAR", "AS", "GLOBAL", "DISTINCT", "NAN", "INF", "ASC", "DESC", "NANOSECOND", "MICROSECOND",
      "MILLISECOND", "SECONDS", "MINUTES", "HOURS", "DAYS", "WEEKS", "MONTHS", "YEARS", "ESCAPE", "ANY",
      "ALL", "LEADING", "TRAILING", "BOTH", "DATE", "TIMESTAMP"};
  for (const char* k : kWords)
    if (sg::iequals(w, k)) return true;
  return false;
}

// Words that would turn an expression into more than one.
bool isStatementKeyword(std::string_view w) {
  static const char* const kWords[] = {"SELECT", "FROM", "SETTINGS", "FORMAT", "INTO", "UNION", "JOIN",
                                       "WHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "WITH", "INSERT",
                                       "ALTER", "DROP", "CREATE", "SYSTEM", "OUTFILE", "PREWHERE", "QUALIFY"};
  for (const char* k : kWords)
    if (sg::iequals(w, k)) return true;
  return false;
}

}  // namespace

ExpressionCheck checkExpression(std::string_view sql, const std::vector<std::string>& table_columns) {
  ExpressionCheck out;
  auto lex = sg::tokenize(sql);
  if (lex.error) {
    out.error = fmt::format("does not parse at byte {}: {}", lex.error_pos, *lex.error);
    return out;
  }
  const auto& t = lex.tokens;
  if (t.empty()) {
    out.error = "is empty";
    return out;
  }
  int depth = 0;
  std::set<std::string> lambda_params;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].type == sg::TokenType::kSemicolon) {
      out.error = "holds a `;` (one expression only)";
      return out;
    }
    if (t[i].type == sg::TokenType::kOpenParen) ++depth;
    if (t[i].type == sg::TokenType::kCloseParen && --depth < 0) break;
    if (t[i].type == sg::TokenType::kOperator && t[i].text == "->") {
      // `x -> ...` or `(x, y) -> ...`: the names before the arrow are parameters.
      if (i > 0 && t[i - 1].type == sg::TokenType::kBareWord) lambda_params.insert(std::string(t[i - 1].text));
      if (i > 0 && t[i - 1].type == sg::TokenType::kCloseParen) {
        for (size_t j = i - 1; j-- > 0 && t[j].type != sg::TokenType::kOpenParen;)
          if (t[j].type == sg::TokenType::kBareWord) lambda_params.insert(std::string(t[j].text));
      }
    }
  }
  if (depth != 0) {
    out.error = "has unbalanced parentheses";
    return out;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < t.size(); ++i) {
    const auto& tok = t[i];
    const bool called = i + 1 < t.size() && t[i + 1].type == sg::TokenType::kOpenParen;
    if (tok.type == sg::TokenType::kBareWord && isStatementKeyword(tok.text)) {
      out.error = fmt::format("holds `{}` (an expression, not a query, is expected)", tok.text);
      return out;
    }
    if (called && (tok.type == sg::TokenType::kBareWord || tok.type == sg::TokenType::kQuotedIdentifier)) {
      const std::string fn = sg::unquote(tok);
      for (auto refused : sg::refusedFunctions())
        if (sg::iequals(fn, refused)) {
          out.error = fmt::format("calls `{}`, which reaches outside the store", fn);
          return out;
        }
      continue;
    }
    if (tok.type != sg::TokenType::kBareWord && tok.type != sg::TokenType::kQuotedIdentifier) continue;
    if (tok.type == sg::TokenType::kBareWord) {
      if (isExpressionKeyword(tok.text)) continue;
      if (lambda_params.count(std::string(tok.text))) continue;
      if (std::isdigit(static_cast<unsigned char>(tok.text[0]))) continue;
    }
    if (i > 0) {
      const auto& prev = t[i - 1];
      // alias, type after `AS` / `::`, tuple or nested element after `.`
      if (prev.type == sg::TokenType::kBareWord && sg::iequals(prev.text, "AS")) continue;
      if (prev.type == sg::TokenType::kOperator && prev.text == "::") continue;
      if (prev.type == sg::TokenType::kDot) continue;
    }
    std::string name = sg::unquote(tok);
    // A Nested column read as `Events.Name` lexes as word, dot, word.
    if (i + 2 < t.size() && t[i + 1].type == sg::TokenType::kDot &&
        (t[i + 2].type == sg::TokenType::kBareWord || t[i + 2].type == sg::TokenType::kQuotedIdentifier)) {
      std::string dotted = name + "." + sg::unquote(t[i + 2]);
      if (std::find(table_columns.begin(), table_columns.end(), dotted) != table_columns.end()) name = dotted;
    }
    if (std::find(table_columns.begin(), table_columns.end(), name) == table_columns.end()) {
      out.error = fmt::format("names unknown column `{}`", name);
      return out;
    }
    if (seen.insert(name).second) out.columns.push_back(name);
  }
  return out;
}

}  // namespace kobs::alert
