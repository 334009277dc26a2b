// The one read-only SQL statement checker, for every place that runs SQL from
// outside: the ClickHouse-compatible endpoint (serve/chcompat) and, later, the
// MCP server. A readonly=1 chDB connection is not enough on its own: chDB
// writes INTO OUTFILE files, reads host files through file(), runs SYSTEM and
// KILL and takes SETTINGS overrides. So every statement is tokenized with
// ClickHouse's lexical rules (sql_lexer.h) and accepted only when it is
//   - exactly one statement (trailing `;` allowed), starting with SELECT, WITH,
//     `(`, SHOW, DESCRIBE/DESC, EXISTS or EXPLAIN (EXPLAIN's own statement
//     must be a SELECT); no write or admin keyword (INSERT, SYSTEM, ...) at
//     the statement's top level (WITH ... INSERT parses as an INSERT);
//   - without INTO OUTFILE (nor INTO, OUTFILE or INFILE anywhere);
//   - without a call, anywhere, to a table function that reaches files, URLs,
//     other servers, object stores or executables (file(), url(), remote(),
//     s3(), mysql(), executable(), input(), ...), quoted names included;
//   - with only allow-listed table functions in table position (after FROM,
//     JOIN, a comma of a FROM list, DESCRIBE [TABLE]): numbers, zeros,
//     values, generate_series, generateRandom, view; unknown ones are refused;
//   - with SETTINGS clauses naming only allow-listed settings (checkSetting).
// Clients also send settings as URL parameters: checkSetting() applies the
// same allow-list to them.
//
// Refusals carry ClickHouse's error code and name (164 READONLY, 62
// SYNTAX_ERROR), a message, and a short `reason` for a metric label.
//
// Threading: pure functions over immutable tables; call from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kobs::store::sql_guard {

// Metric label values of refusals, one per rule.
inline constexpr const char* kRefusalReasons[] = {"syntax", "multi_statement", "statement", "into_outfile",
                                                  "table_function", "setting"};

struct Refusal {
  int code = 164;             // ClickHouse error code
  std::string name;           // its name: READONLY, SYNTAX_ERROR
  std::string reason;         // one of kRefusalReasons
  std::string message;        // without the code or the name

  // ClickHouse's exception text: "Code: 164. DB::Exception: <message>. (READONLY)".
  std::string text() const;
};

enum class StatementKind { kSelect, kShow, kDescribe, kExists, kExplain };

struct Statement {
  StatementKind kind = StatementKind::kSelect;
  // The output format named by a top-level FORMAT clause ("" if none), and
  // the statement with that clause and trailing `;` removed.
  std::string format;
  std::string sql;
  // The statement ends with (or holds, at its top level) a SETTINGS clause:
  // more settings are added with ", k = v" rather than " SETTINGS k = v".
  bool has_settings_clause = false;
};

struct Verdict {
  std::optional<Refusal> refusal;  // set: refused
  Statement statement;             // valid when accepted

  bool accepted() const { return !refusal.has_value(); }
};

Verdict checkReadOnly(std::string_view sql);

// The setting `name` may be set to `value` by an untrusted caller (SETTINGS
// clause or URL parameter). Only output shaping, limits that restrict the
// query, and planner switches real clients send are allowed; `readonly` only
// to 1. Everything else (allow_ddl, readonly=0, format_schema, ...) is
// refused with 164, in ClickHouse's words.
std::optional<Refusal> checkSetting(std::string_view name, std::string_view value);

// The allow-listed settings and table functions, and the table functions
// refused wherever they are called (for documentation and tests).
const std::vector<std::string_view>& allowedSettings();
const std::vector<std::string_view>& allowedTableFunctions();
const std::vector<std::string_view>& refusedFunctions();

}  // namespace kobs::store::sql_guard
