#include "serve/chcompat/write_statement.h"

#include <charconv>

#include <fmt/format.h>

#include "store/sql_guard/sql_lexer.h"

namespace kobs::serve::chcompat {
namespace sg = kobs::store::sql_guard;
namespace {

constexpr int kSyntaxError = 62;
constexpr int kUnknownFormat = 73;
constexpr int kAccessDenied = 497;

WriteRefusal syntax(std::string message) { return {kSyntaxError, "SYNTAX_ERROR", "syntax", std::move(message)}; }
WriteRefusal notAllowed(std::string message) {
  return {kAccessDenied, "ACCESS_DENIED", "statement", std::move(message)};
}

// A cursor over the significant tokens.
class Tokens {
 public:
  explicit Tokens(std::vector<sg::Token> tokens) : t_(std::move(tokens)) {}
  bool done() const { return i_ >= t_.size(); }
  const sg::Token* peek() const { return done() ? nullptr : &t_[i_]; }
  bool word(std::string_view w) {
    if (done() || t_[i_].type != sg::TokenType::kBareWord || !sg::iequals(t_[i_].text, w)) return false;
    ++i_;
    return true;
  }
  bool type(sg::TokenType type) {
    if (done() || t_[i_].type != type) return false;
    ++i_;
    return true;
  }
  // An identifier (bare or quoted), unquoted.
  bool identifier(std::string& out) {
    if (done() || (t_[i_].type != sg::TokenType::kBareWord && t_[i_].type != sg::TokenType::kQuotedIdentifier))
      return false;
    out = sg::unquote(t_[i_++]);
    return true;
  }
  // [db.]name
  bool qualifiedName(std::string& database, std::string& name) {
    std::string first;
    if (!identifier(first)) return false;
    if (type(sg::TokenType::kDot)) {
      database = std::move(first);
      return identifier(name);
    }
    name = std::move(first);
    return true;
  }
  // Only `;` may follow the statement.
  bool atEnd() {
    type(sg::TokenType::kSemicolon);
    return done();
  }

 private:
  std::vector<sg::Token> t_;
  size_t i_ = 0;
};

std::variant<WriteStatement, WriteRefusal> parseInsert(Tokens& t) {
  WriteStatement s;
  s.kind = WriteStatement::Kind::kInsert;
  if (!t.word("INTO")) return syntax("expected INTO after INSERT");
  t.word("TABLE");
  if (t.word("FUNCTION")) return notAllowed("INSERT INTO FUNCTION is not allowed on this endpoint");
  if (!t.qualifiedName(s.database, s.name)) return syntax("expected a table name after INSERT INTO");
  if (t.type(sg::TokenType::kOpenParen)) {
    for (;;) {
      std::string column;
      if (!t.identifier(column)) return syntax("expected a column name in the INSERT column list");
      s.columns.push_back(std::move(column));
      if (t.type(sg::TokenType::kComma)) continue;
      if (t.type(sg::TokenType::kCloseParen)) break;
      return syntax("expected , or ) in the INSERT column list");
    }
  }
  if (t.word("SETTINGS"))
    return notAllowed("a SETTINGS clause in the INSERT is not allowed on this endpoint (send settings as URL "
                      "parameters)");
  if (t.word("VALUES") || t.word("SELECT") || t.word("WITH"))
    return WriteRefusal{kUnknownFormat, "UNKNOWN_FORMAT", "format",
            "only INSERT ... FORMAT RowBinary with the rows in the request body is accepted"};
  if (!t.word("FORMAT")) return syntax("expected FORMAT after the INSERT table");
  if (!t.identifier(s.format)) return syntax("expected a format name after FORMAT");
  if (s.format != "RowBinary")
    return WriteRefusal{kUnknownFormat, "UNKNOWN_FORMAT", "format",
            fmt::format("format {} is not accepted here: only RowBinary (what kobs's ClickHouse store sends)",
                        s.format.substr(0, 64))};
  if (!t.atEnd()) return syntax("the rows must come in the request body, not after FORMAT RowBinary in the query");
  return s;
}

std::variant<WriteStatement, WriteRefusal> parseCreate(Tokens& t) {
  WriteStatement s;
  s.kind = WriteStatement::Kind::kCreate;
  if (t.word("DATABASE")) s.object = "DATABASE";
  else if (t.word("TABLE")) s.object = "TABLE";
  else if (t.word("VIEW")) s.object = "VIEW";
  else if (t.word("MATERIALIZED") && t.word("VIEW")) s.object = "MATERIALIZED VIEW";
  else return notAllowed("only CREATE DATABASE|TABLE|VIEW|MATERIALIZED VIEW IF NOT EXISTS of the central schema is "
                         "accepted on this endpoint");
  if (!(t.word("IF") && t.word("NOT") && t.word("EXISTS")))
    return notAllowed(fmt::format("CREATE {} without IF NOT EXISTS is not allowed on this endpoint", s.object));
  if (s.object == "DATABASE") {
    if (!t.identifier(s.name)) return syntax("expected a database name");
  } else if (!t.qualifiedName(s.database, s.name)) {
    return syntax(fmt::format("expected a name after CREATE {} IF NOT EXISTS", s.object));
  }
  if (t.word("ON")) return notAllowed("CREATE ... ON CLUSTER is not allowed on this endpoint");
  return s;  // the rest (columns, engine) is not looked at: the object must exist already
}

std::variant<WriteStatement, WriteRefusal> parseAlter(Tokens& t) {
  WriteStatement s;
  s.kind = WriteStatement::Kind::kAlterDeduplicationWindow;
  const auto refuse = [] {
    return notAllowed("only ALTER TABLE ... MODIFY SETTING non_replicated_deduplication_window = N is accepted on "
                      "this endpoint");
  };
  if (!t.word("TABLE") || !t.qualifiedName(s.database, s.name)) return refuse();
  if (!t.word("MODIFY") || !t.word("SETTING")) return refuse();
  std::string setting;
  if (!t.identifier(setting) || setting != "non_replicated_deduplication_window") return refuse();
  if (!t.type(sg::TokenType::kEquals)) return refuse();
  const auto* n = t.peek();
  if (!n || n->type != sg::TokenType::kNumber) return refuse();
  auto r = std::from_chars(n->text.data(), n->text.data() + n->text.size(), s.window);
  if (r.ec != std::errc() || r.ptr != n->text.data() + n->text.size()) return refuse();
  t.type(sg::TokenType::kNumber);
  if (!t.atEnd()) return refuse();
  return s;
}

}  // namespace

std::string WriteRefusal::text() const { return fmt::format("Code: {}. DB::Exception: {}. ({})", code, message, name); }

std::string writeStatementWord(std::string_view sql) {
  auto lexed = sg::tokenize(sql);  // a lexing error after the first word leaves the tokens before it
  if (lexed.tokens.empty() || lexed.tokens.front().type != sg::TokenType::kBareWord) return {};
  const auto first = lexed.tokens.front().text;
  for (const char* word : {"INSERT", "CREATE", "ALTER"})
    if (sg::iequals(first, word)) return word;
  return {};
}

bool isWriteStatement(std::string_view sql) { return !writeStatementWord(sql).empty(); }

std::variant<WriteStatement, WriteRefusal> parseWriteStatement(std::string_view sql) {
  auto lexed = sg::tokenize(sql);
  if (lexed.error) return syntax(fmt::format("{} at position {}", *lexed.error, lexed.error_pos));
  Tokens t(std::move(lexed.tokens));
  if (t.word("INSERT")) return parseInsert(t);
  if (t.word("CREATE")) return parseCreate(t);
  if (t.word("ALTER")) return parseAlter(t);
  return notAllowed("only INSERT ... FORMAT RowBinary and the schema's CREATE ... IF NOT EXISTS are accepted on "
                    "the write path");
}

}  // namespace kobs::serve::chcompat
