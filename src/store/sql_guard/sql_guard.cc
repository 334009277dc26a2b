#include "store/sql_guard/sql_guard.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "store/sql_guard/sql_lexer.h"

namespace kobs::store::sql_guard {
namespace {

constexpr int kSyntaxError = 62;
constexpr int kReadonly = 164;

const std::vector<std::string_view> kAllowedSettings = {
    // Only to 1 (checked below): what a readonly client (mcp-clickhouse) echoes back.
    "readonly",
    // Output shaping.
    "date_time_output_format", "date_time_input_format", "session_timezone",
    "output_format_json_quote_64bit_integers", "output_format_json_quote_64bit_floats",
    "output_format_json_quote_denormals", "output_format_json_quote_decimals",
    "output_format_json_named_tuples_as_objects", "output_format_json_array_of_rows",
    "output_format_json_validate_utf8", "output_format_json_escape_forward_slashes",
    "output_format_json_map_as_array_of_tuples", "output_format_json_pretty_print",
    "output_format_write_statistics", "output_format_decimal_trailing_zeros",
    "output_format_csv_crlf_end_of_line", "output_format_tsv_crlf_end_of_line", "format_csv_delimiter",
    "output_format_pretty_max_rows", "output_format_pretty_color",
    "output_format_native_encode_types_in_binary_format", "output_format_binary_encode_types_in_binary_format",
    "output_format_native_write_json_as_string", "output_format_binary_write_json_as_string",
    "output_format_arrow_string_as_string", "output_format_parquet_string_as_string", "extremes",
    // Limits that only restrict the query.
    "max_execution_time", "timeout_overflow_mode", "max_result_rows", "max_result_bytes", "result_overflow_mode",
    "max_rows_to_read", "max_bytes_to_read", "read_overflow_mode", "limit", "offset",
    // Planner switches HyperDX sends with every query.
    "allow_experimental_analyzer", "enable_analyzer", "query_plan_optimize_lazy_materialization",
    "query_plan_max_limit_for_lazy_materialization", "use_skip_indexes_for_top_k",
    "query_plan_max_limit_for_top_k_optimization", "use_top_k_dynamic_filtering", "use_skip_indexes_on_data_read",
    "use_skip_indexes_for_disjunctions",
    // clickhouse-connect sends this once system.settings shows it changeable.
    "cast_string_to_dynamic_use_inference",
    // HTTP-interface settings (the endpoint handles or ignores them).
    "wait_end_of_query", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
    "enable_http_compression", "http_zlib_compression_level", "add_http_cors_header",
    "cancel_http_readonly_queries_on_client_close", "log_comment",
};

// Harmless in table position: they generate rows and read nothing.
const std::vector<std::string_view> kAllowedTableFunctions = {
    "numbers", "numbers_mt", "zeros", "zeros_mt", "values", "generate_series", "generateSeries",
    "generateRandom", "primes", "view",
};

// Table functions refused wherever they are called (`x IN file(...)` reads a
// file too): every table function ClickHouse 26.7 has that is neither allowed
// above nor also an ordinary function (format, fuzzQuery). `file` is both an
// ordinary function and a table function, and both read host files.
const std::vector<std::string_view> kRefusedFunctions = {
    "file", "fileCluster", "filesystem", "url", "urlCluster", "remote", "remoteSecure", "cluster",
    "clusterAllReplicas", "s3", "s3Cluster", "gcs", "oss", "cosn", "hdfs", "hdfsCluster", "azureBlobStorage",
    "azureBlobStorageCluster", "iceberg", "icebergAzure", "icebergAzureCluster", "icebergCluster", "icebergHDFS",
    "icebergHDFSCluster", "icebergLocal", "icebergLocalCluster", "icebergS3", "icebergS3Cluster", "deltaLake",
    "deltaLakeAzure", "deltaLakeAzureCluster", "deltaLakeCluster", "deltaLakeLocal", "deltaLakeS3",
    "deltaLakeS3Cluster", "hudi", "hudiCluster", "paimon", "paimonAzure", "paimonAzureCluster", "paimonCluster",
    "paimonHDFS", "paimonHDFSCluster", "paimonLocal", "paimonS3", "paimonS3Cluster", "mysql", "postgresql",
    "sqlite", "mongodb", "redis", "jdbc", "odbc", "ytsaurus", "arrowstream", "arrowFlight", "executable", "input",
    "dictionary", "merge", "loop", "eval", "null", "SQLStandardValues", "prometheusQuery", "prometheusQueryRange",
    "timeSeriesData", "timeSeriesMetrics", "timeSeriesSamples", "timeSeriesSelector", "timeSeriesTags",
    "viewExplain", "viewIfPermitted", "mergeTreeIndex", "mergeTreeProjection", "mergeTreeAnalyzeIndexes",
    "mergeTreeAnalyzeIndexesUUID", "mergeTreeTextIndex",
};

// Statement keywords that never belong at the top level of a read statement
// (`WITH x AS (...) INSERT ...` parses as an INSERT).
const std::vector<std::string_view> kWriteKeywords = {
    "INSERT", "CREATE", "ALTER", "DROP", "SYSTEM", "KILL", "ATTACH", "DETACH", "RENAME", "TRUNCATE", "OPTIMIZE",
    "GRANT", "REVOKE", "DELETE", "UPDATE", "BACKUP", "RESTORE", "UNDROP", "EXCHANGE", "USE", "SET", "WATCH",
};

// Other statements ClickHouse knows (refused as READONLY; an unknown first
// word is a syntax error, as ClickHouse reports it).
const std::vector<std::string_view> kOtherStatements = {
    "CHECK", "BEGIN", "COMMIT", "ROLLBACK", "REPLACE", "MOVE", "UNDO", "PARALLEL", "COPY",
};

// Keywords that end a FROM clause at their level.
const std::vector<std::string_view> kClauseKeywords = {
    "WHERE", "PREWHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "WINDOW", "QUALIFY", "ON", "USING", "SAMPLE",
    "OFFSET", "UNION", "EXCEPT", "INTERSECT", "SELECT", "FORMAT", "SETTINGS", "INTO", "FETCH", "ARRAY",
};

// EXPLAIN's own options (`EXPLAIN PLAN actions = 1 SELECT ...`).
const std::vector<std::string_view> kExplainOptions = {
    "header", "description", "actions", "indexes", "projections", "json", "optimize", "sorting",
    "keep_logical_steps", "distributed", "graph", "compact", "oneline", "run_passes", "dump_passes", "passes",
    "dump_tree", "dump_ast", "query_tree_passes", "pretty",
};

bool inList(const std::vector<std::string_view>& list, std::string_view name) {
  return std::any_of(list.begin(), list.end(), [&](std::string_view n) { return iequals(n, name); });
}

Refusal refuse(int code, std::string reason, std::string message) {
  return Refusal{code, code == kSyntaxError ? "SYNTAX_ERROR" : "READONLY", std::move(reason), std::move(message)};
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool isWord(const Token& t) { return t.type == TokenType::kBareWord || t.type == TokenType::kQuotedIdentifier; }
bool isBare(const Token& t, std::string_view kw) { return t.type == TokenType::kBareWord && iequals(t.text, kw); }

// A short, single-line excerpt of untrusted text for a message.
std::string excerpt(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : '?');
  if (s.size() > 40) out += "...";
  return out;
}

class Checker {
 public:
  Checker(std::string_view sql, const std::vector<Token>& toks, size_t n) : sql_(sql), t_(toks), n_(n) {}

  Verdict run() {
    Verdict v;
    auto kind = classify();
    if (!kind) {
      v.refusal = std::move(refusal_);
      return v;
    }
    v.statement.kind = *kind;
    if (auto r = scan(*kind)) {
      v.refusal = std::move(r);
      return v;
    }
    // The statement text without trailing `;` and without the FORMAT clause.
    const size_t end = t_[n_ - 1].end;
    std::string text(sql_.substr(0, end));
    if (format_end_ > format_begin_) {
      text = text.substr(0, format_begin_) + " " + text.substr(format_end_);
    }
    v.statement.sql = std::move(text);
    v.statement.format = std::move(format_);
    v.statement.has_settings_clause = settings_at_end_;
    return v;
  }

 private:
  const Token* at(size_t i) const { return i < n_ ? &t_[i] : nullptr; }

  std::optional<StatementKind> classify() {
    const Token& first = t_[0];
    if (first.type == TokenType::kOpenParen || isBare(first, "SELECT") || isBare(first, "WITH"))
      return StatementKind::kSelect;
    if (isBare(first, "SHOW")) return StatementKind::kShow;
    if (isBare(first, "DESCRIBE") || isBare(first, "DESC")) return StatementKind::kDescribe;
    if (isBare(first, "EXISTS")) return StatementKind::kExists;
    if (isBare(first, "EXPLAIN")) {
      size_t i = 1;
      if (auto* k = at(i); k && k->type == TokenType::kBareWord) {
        const std::string u = upper(k->text);
        if (u == "AST" || u == "SYNTAX" || u == "PLAN" || u == "PIPELINE" || u == "ESTIMATE") {
          ++i;
        } else if (u == "QUERY" && at(i + 1) && isBare(*at(i + 1), "TREE")) {
          i += 2;
        }
      }
      while (at(i) && at(i)->type == TokenType::kBareWord && at(i + 1) && at(i + 1)->type == TokenType::kEquals) {
        if (!inList(kExplainOptions, at(i)->text)) {
          refusal_ = refuse(kReadonly, "setting", fmt::format("Unknown EXPLAIN option '{}'", excerpt(at(i)->text)));
          return std::nullopt;
        }
        i += 3;
        if (at(i) && at(i)->type == TokenType::kComma) ++i;
      }
      const Token* inner = at(i);
      if (!inner || !(inner->type == TokenType::kOpenParen || isBare(*inner, "SELECT") || isBare(*inner, "WITH"))) {
        refusal_ = refuse(kReadonly, "statement", "EXPLAIN is allowed here only of a SELECT statement");
        return std::nullopt;
      }
      return StatementKind::kExplain;
    }
    const bool known = first.type == TokenType::kBareWord &&
                       (inList(kWriteKeywords, first.text) || inList(kOtherStatements, first.text));
    if (!known) {
      refusal_ = refuse(kSyntaxError, "syntax",
                        fmt::format("Syntax error: failed at position {} ({}): expected SELECT, WITH, SHOW, DESCRIBE, "
                                    "EXISTS or EXPLAIN",
                                    first.begin + 1, excerpt(first.text)));
      return std::nullopt;
    }
    refusal_ = refuse(kReadonly, "statement",
                      fmt::format("{} statements are not allowed here: this endpoint runs one SELECT, WITH ... SELECT, "
                                  "SHOW, DESCRIBE, EXISTS or EXPLAIN statement",
                                  first.type == TokenType::kBareWord ? upper(excerpt(first.text)) : "Such"));
    return std::nullopt;
  }

  struct Level {
    bool select = false;        // a SELECT keyword was seen at this level
    bool from_seen = false;     // this SELECT's FROM was seen
    bool from = false;          // inside a FROM clause
    bool expect_table = false;  // the next word names a table or a table function
  };

  std::optional<Refusal> tableFunction(std::string_view name) {
    return refuse(kReadonly, "table_function",
                  fmt::format("Table function '{}' is not allowed here: only {} are", excerpt(name),
                              "numbers, zeros, values, generate_series, generateRandom, primes and view"));
  }

  std::optional<Refusal> scan(StatementKind kind) {
    std::vector<Level> levels(1);
    for (size_t i = 0; i < n_; ++i) {
      if (i == 0 && kind == StatementKind::kDescribe) {
        // DESCRIBE [TABLE] x: x may be a table function (which DESCRIBE runs).
        levels.back().expect_table = true;
        continue;
      }
      const Token& t = t_[i];
      const Token* prev = i > 0 ? &t_[i - 1] : nullptr;
      const Token* next = at(i + 1);
      Level& cur = levels.back();
      switch (t.type) {
        case TokenType::kOpenParen:
          cur.expect_table = false;  // FROM (subquery)
          levels.emplace_back();
          continue;
        case TokenType::kCloseParen:
          if (levels.size() > 1) levels.pop_back();
          continue;
        case TokenType::kComma:
          if (cur.from) cur.expect_table = true;
          continue;
        case TokenType::kBareWord:
        case TokenType::kQuotedIdentifier:
          break;
        default:
          continue;
      }
      const std::string name = unquote(t);
      const bool call = next && next->type == TokenType::kOpenParen;
      const bool after_dot = prev && prev->type == TokenType::kDot;
      if (call && inList(kRefusedFunctions, name)) {
        return refuse(kReadonly, "table_function",
                      fmt::format("Function '{}' is not allowed here: it reaches files, URLs, other servers or "
                                  "executables",
                                  excerpt(name)));
      }
      if (cur.expect_table) {
        if (kind == StatementKind::kDescribe && i == 1 && isBare(t, "TABLE")) continue;
        if (call && !inList(kAllowedTableFunctions, name)) return tableFunction(name);
        // `db.table`: the word after the dot is in table position too.
        if (!(next && next->type == TokenType::kDot)) cur.expect_table = false;
      }
      if (t.type != TokenType::kBareWord || after_dot) continue;
      const std::string u = upper(t.text);
      if (u == "SELECT") {
        cur.select = true;
        cur.from_seen = false;
      }
      if (u == "INTO" || u == "OUTFILE" || u == "INFILE") {
        return refuse(kReadonly, "into_outfile", "INTO OUTFILE is not allowed here");
      }
      // A SELECT's first FROM names tables; later ones belong to WITH FILL
      // FROM, IS DISTINCT FROM, EXTRACT(x FROM y) and the like.
      const bool table_from = u == "FROM" && cur.select && !cur.from_seen &&
                              !(prev && (isBare(*prev, "FILL") || isBare(*prev, "DISTINCT")));
      if (table_from || (u == "JOIN" && !(prev && isBare(*prev, "ARRAY")))) {
        if (table_from) cur.from_seen = true;
        cur.from = true;
        cur.expect_table = true;
        continue;
      }
      if (inList(kClauseKeywords, u)) {
        cur.from = false;
        cur.expect_table = false;
      }
      if (u == "SETTINGS" && !(next && next->type == TokenType::kDot) &&
          !(kind == StatementKind::kShow && prev && (isBare(*prev, "SHOW") || isBare(*prev, "CHANGED")))) {
        size_t last = 0;
        if (auto r = settingsList(i + 1, last)) return r;
        if (levels.size() == 1) settings_last_top_ = last;
        i = last;
        continue;
      }
      if (u == "FORMAT" && levels.size() == 1 && next && isWord(*next) &&
          !(at(i + 2) && at(i + 2)->type == TokenType::kOpenParen)) {
        format_ = unquote(*next);
        format_begin_ = t.begin;
        format_end_ = next->end;
        format_index_ = i;
        ++i;
        continue;
      }
      if (levels.size() == 1 && kind != StatementKind::kShow && inList(kWriteKeywords, u) &&
          !(prev && isBare(*prev, "AS")) && !call && !(next && next->type == TokenType::kDot)) {
        return refuse(kReadonly, "statement", fmt::format("{} is not allowed here", u));
      }
    }
    // Settings added later go into this clause when it ends the statement
    // (possibly followed by FORMAT x).
    if (settings_last_top_ != kNone)
      settings_at_end_ = settings_last_top_ + 1 == n_ ||
                         (format_index_ != kNone && settings_last_top_ + 1 == format_index_ && format_index_ + 2 == n_);
    return std::nullopt;
  }

  // `name = value [, name = value]*` from `i`; `last` is the index of the last value.
  std::optional<Refusal> settingsList(size_t i, size_t& last) {
    while (true) {
      const Token* name = at(i);
      const Token* eq = at(i + 1);
      size_t v = i + 2;
      if (at(v) && at(v)->type == TokenType::kOperator && (at(v)->text == "-" || at(v)->text == "+")) ++v;
      const Token* value = at(v);
      if (!name || !isWord(*name) || !eq || eq->type != TokenType::kEquals || !value ||
          !(value->type == TokenType::kNumber || value->type == TokenType::kString ||
            value->type == TokenType::kBareWord)) {
        return refuse(kReadonly, "setting", "Only a SETTINGS clause of `name = literal` pairs is allowed here");
      }
      std::string val = unquote(*value);
      if (v == i + 3) val = std::string(at(i + 2)->text) + val;
      if (auto r = checkSetting(unquote(*name), val)) return r;
      last = v;
      if (at(v + 1) && at(v + 1)->type == TokenType::kComma) {
        i = v + 2;
        continue;
      }
      return std::nullopt;
    }
  }

  std::string_view sql_;
  const std::vector<Token>& t_;
  size_t n_;
  std::optional<Refusal> refusal_;
  std::string format_;
  size_t format_begin_ = 0, format_end_ = 0;
  static constexpr size_t kNone = size_t(-1);
  size_t format_index_ = kNone;
  size_t settings_last_top_ = kNone;
  bool settings_at_end_ = false;
};

}  // namespace

std::string Refusal::text() const { return fmt::format("Code: {}. DB::Exception: {}. ({})", code, message, name); }

Verdict checkReadOnly(std::string_view sql) {
  Verdict v;
  auto lex = tokenize(sql);
  if (lex.error) {
    v.refusal = refuse(kSyntaxError, "syntax",
                       fmt::format("Syntax error: failed at position {}: {}", lex.error_pos + 1, *lex.error));
    return v;
  }
  const auto& toks = lex.tokens;
  size_t n = 0;
  while (n < toks.size() && toks[n].type != TokenType::kSemicolon) ++n;
  for (size_t i = n; i < toks.size(); ++i) {
    if (toks[i].type != TokenType::kSemicolon) {
      v.refusal = refuse(kSyntaxError, "multi_statement",
                         fmt::format("Syntax error (Multi-statements are not allowed): failed at position {}",
                                     toks[i].begin + 1));
      return v;
    }
  }
  if (n == 0) {
    v.refusal = refuse(kSyntaxError, "syntax", "Empty query");
    return v;
  }
  return Checker(sql, toks, n).run();
}

std::optional<Refusal> checkSetting(std::string_view name, std::string_view value) {
  if (inList(kAllowedSettings, name)) {
    if (!iequals(name, "readonly") || value == "1") return std::nullopt;
  }
  return refuse(kReadonly, "setting", fmt::format("Cannot modify '{}' setting in readonly mode", excerpt(name)));
}

const std::vector<std::string_view>& allowedSettings() { return kAllowedSettings; }
const std::vector<std::string_view>& allowedTableFunctions() { return kAllowedTableFunctions; }
const std::vector<std::string_view>& refusedFunctions() { return kRefusedFunctions; }

}  // namespace kobs::store::sql_guard
