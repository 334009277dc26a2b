#include "serve/mcp/query_rewrite.h"

#include <algorithm>
#include <regex>
#include <set>
#include <vector>

#include "store/sql_guard/sql_lexer.h"
#include "store/store.h"

namespace kobs::serve::mcp {
namespace {

namespace sg = kobs::store::sql_guard;
using sg::Token;
using sg::TokenType;

bool isName(const Token& t) { return t.type == TokenType::kBareWord || t.type == TokenType::kQuotedIdentifier; }
bool isWord(const Token& t, std::string_view w) { return t.type == TokenType::kBareWord && sg::iequals(t.text, w); }

std::string squeeze(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\n' && c != '\t') out.push_back(c);
  return out;
}

// The map an items expression is built from: `arrayMap(arr -> concat(arr.1,
// '=', arr.2), CAST(M, 'Array(Tuple(String, String))'))` as the server
// formats ClickStack's ALIAS (and `M::Array(...)` as written in its DDL).
std::optional<std::string> itemsMap(std::string_view expression) {
  static const std::regex re(
      R"(^arrayMap\(\(?arr\)?->concat\(arr\.1,'=',arr\.2\),(?:CAST\(`?([A-Za-z_][A-Za-z0-9_]*)`?,'Array\(Tuple\(String,String\)\)'\)|`?([A-Za-z_][A-Za-z0-9_]*)`?::Array\(Tuple\(String,String\)\))\)$)");
  std::smatch m;
  const std::string s = squeeze(expression);
  if (!std::regex_match(s, m, re)) return std::nullopt;
  return m[1].matched ? m[1].str() : m[2].str();
}

// A clause of a SELECT, as far as the rewrite cares.
enum class Clause { kSelectList, kCondition, kOther };

struct Lookup {
  size_t at;  // index of the map name token
  std::string map, key;
  Clause clause;
  bool aliased;            // `... AS name` right after it
  bool equality = false;   // `map['key'] = 'value'` as a whole condition term
  std::string value;
};

// Tokens after which a comparison starts a condition term, and before which it ends one.
bool termStart(const Token& t) {
  return t.type == TokenType::kOpenParen || isWord(t, "WHERE") || isWord(t, "PREWHERE") || isWord(t, "AND") ||
         isWord(t, "OR") || isWord(t, "NOT");
}
bool termEnd(const std::vector<Token>& tokens, size_t i) {
  if (i >= tokens.size()) return true;
  const Token& t = tokens[i];
  if (t.type == TokenType::kCloseParen || t.type == TokenType::kSemicolon) return true;
  for (const char* w : {"AND", "OR", "GROUP", "ORDER", "LIMIT", "SETTINGS", "FORMAT", "UNION", "WINDOW", "QUALIFY",
                        "HAVING"})
    if (isWord(t, w)) return true;
  return false;
}

}  // namespace

std::string acceleratorsSql(const std::string& database, const std::string& table) {
  const std::string db = store::quoteString(database), t = store::quoteString(table);
  return "SELECT lower(default_kind), name, default_expression FROM system.columns WHERE database = " + db +
         " AND table = " + t +
         " AND default_kind IN ('MATERIALIZED', 'ALIAS') UNION ALL SELECT 'text_index', name, expr FROM "
         "system.data_skipping_indices WHERE database = " +
         db + " AND table = " + t + " AND type = 'text'";
}

Accelerators parseAccelerators(const std::string& database, const std::string& table,
                               const std::vector<std::array<std::string, 3>>& rows) {
  Accelerators acc{.database = database, .table = table};
  std::set<std::string> indexed;  // squeezed expressions with a text index
  for (const auto& r : rows)
    if (r[0] == "text_index") indexed.insert(squeeze(r[2]));
  for (const auto& r : rows) {
    if (r[0] != "materialized" && r[0] != "alias") continue;
    const std::string& name = r[1];
    auto lex = sg::tokenize(r[2]);
    const auto& t = lex.tokens;
    if (r[0] == "materialized" && !lex.error && t.size() == 4 && isName(t[0]) && t[1].type == TokenType::kOpenBracket &&
        t[2].type == TokenType::kString && t[3].type == TokenType::kCloseBracket) {
      // An ALIAS of the same lookup would read the map anyway: not kept.
      acc.materialized[{sg::unquote(t[0]), sg::unquote(t[2])}] = name;
      continue;
    }
    if (auto map = itemsMap(r[2]); r[0] == "alias" && map && (indexed.count(squeeze(r[2])) || indexed.count(name)))
      acc.items[*map] = name;
  }
  return acc;
}

std::optional<std::string> rewriteForAccelerators(std::string_view sql, const Accelerators& acc) {
  if (acc.empty()) return std::nullopt;
  auto lex = sg::tokenize(sql);
  if (lex.error || lex.tokens.empty()) return std::nullopt;
  const auto& t = lex.tokens;
  if (!isWord(t[0], "SELECT") && !isWord(t[0], "WITH")) return std::nullopt;

  std::set<std::string> maps;
  for (const auto& [k, _] : acc.materialized) maps.insert(k.first);
  for (const auto& [m, _] : acc.items) maps.insert(m);

  // Every FROM / JOIN reads the logs table or a subquery; every map name is
  // the table's own column (not qualified, not redefined).
  bool reads_logs = false;
  for (size_t i = 0; i < t.size(); ++i) {
    if (isWord(t[i], "BETWEEN")) return std::nullopt;  // `x BETWEEN a AND m['k'] = 'v'` binds differently
    if (isName(t[i]) && maps.count(sg::unquote(t[i]))) {
      if ((i > 0 && t[i - 1].type == TokenType::kDot) || (i > 0 && isWord(t[i - 1], "AS"))) return std::nullopt;
    }
    if (!isWord(t[i], "FROM") && !isWord(t[i], "JOIN")) continue;
    size_t j = i + 1;
    if (j < t.size() && t[j].type == TokenType::kOpenParen) continue;
    if (j >= t.size() || !isName(t[j])) return std::nullopt;
    std::string db, name = sg::unquote(t[j]);
    if (j + 2 < t.size() && t[j + 1].type == TokenType::kDot && isName(t[j + 2])) {
      db = name;
      name = sg::unquote(t[j + 2]);
      j += 2;
    }
    if (j + 1 < t.size() && t[j + 1].type == TokenType::kOpenParen) return std::nullopt;  // table function
    if (name != acc.table || (!db.empty() && db != acc.database) || (db.empty() && !acc.default_database))
      return std::nullopt;
    reads_logs = true;
  }
  if (!reads_logs) return std::nullopt;

  std::vector<Lookup> lookups;
  std::vector<Clause> clause{Clause::kOther};
  for (size_t i = 0; i < t.size(); ++i) {
    const Token& tok = t[i];
    if (tok.type == TokenType::kOpenParen) {
      clause.push_back(clause.back());
      continue;
    }
    if (tok.type == TokenType::kCloseParen) {
      if (clause.size() > 1) clause.pop_back();
      continue;
    }
    if (tok.type == TokenType::kBareWord) {
      if (isWord(tok, "SELECT")) clause.back() = Clause::kSelectList;
      else if (isWord(tok, "WHERE") || isWord(tok, "PREWHERE")) clause.back() = Clause::kCondition;
      else if (isWord(tok, "FROM") || isWord(tok, "GROUP") || isWord(tok, "ORDER") || isWord(tok, "HAVING") ||
               isWord(tok, "LIMIT") || isWord(tok, "SETTINGS") || isWord(tok, "WINDOW") || isWord(tok, "QUALIFY") ||
               isWord(tok, "WITH") || isWord(tok, "ON") || isWord(tok, "USING") || isWord(tok, "FORMAT"))
        clause.back() = Clause::kOther;
    }
    if (!isName(tok) || i + 3 >= t.size() || t[i + 1].type != TokenType::kOpenBracket ||
        t[i + 2].type != TokenType::kString || t[i + 3].type != TokenType::kCloseBracket)
      continue;
    const std::string map = sg::unquote(tok);
    if (!maps.count(map)) continue;
    Lookup l{.at = i, .map = map, .key = sg::unquote(t[i + 2]), .clause = clause.back(),
             .aliased = i + 4 < t.size() && isWord(t[i + 4], "AS")};
    if (l.clause == Clause::kCondition && i > 0 && termStart(t[i - 1]) && i + 5 < t.size() &&
        t[i + 4].type == TokenType::kEquals && t[i + 5].type == TokenType::kString && termEnd(t, i + 6)) {
      l.value = sg::unquote(t[i + 5]);
      l.equality = !l.value.empty();  // m['k'] = '' also holds when the key is absent
    }
    lookups.push_back(std::move(l));
  }

  // A materialized column replaces a key's lookups everywhere or nowhere (a
  // GROUP BY must keep matching its SELECT), and nowhere when a SELECT list
  // shows it without an alias (the result column's name would change).
  std::set<std::pair<std::string, std::string>> substitute;
  for (const auto& l : lookups)
    if (acc.materialized.count({l.map, l.key})) substitute.insert({l.map, l.key});
  for (const auto& l : lookups)
    if (l.clause == Clause::kSelectList && !l.aliased) substitute.erase({l.map, l.key});

  struct Edit {
    size_t begin, end;
    std::string text;
  };
  std::vector<Edit> edits;
  for (const auto& l : lookups) {
    const bool sub = substitute.count({l.map, l.key}) > 0;
    const std::string lhs = sub ? store::quoteIdentifier(acc.materialized.at({l.map, l.key}))
                                : std::string(sql.substr(t[l.at].begin, t[l.at + 3].end - t[l.at].begin));
    auto items = acc.items.find(l.map);
    if (l.equality && items != acc.items.end()) {
      edits.push_back({t[l.at].begin, t[l.at + 5].end,
                       "(" + lhs + " = " + std::string(t[l.at + 5].text) + " AND has(" +
                           store::quoteIdentifier(items->second) + ", " + store::quoteString(l.key + "=" + l.value) +
                           "))"});
    } else if (sub) {
      edits.push_back({t[l.at].begin, t[l.at + 3].end, lhs});
    }
  }
  if (edits.empty()) return std::nullopt;
  std::string out;
  size_t at = 0;
  for (const auto& e : edits) {
    out.append(sql.substr(at, e.begin - at));
    out += e.text;
    at = e.end;
  }
  out.append(sql.substr(at));
  return out;
}

}  // namespace kobs::serve::mcp
