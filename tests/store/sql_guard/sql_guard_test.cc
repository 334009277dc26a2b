#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/sql_guard/sql_guard.h"
#include "store/sql_guard/sql_lexer.h"
#include "support/temp_dir.h"

namespace kobs::store::sql_guard {
namespace {

nlohmann::json corpus(const std::string& name) {
  std::ifstream in(kobs::testing::sourceDir() / "tests/store/sql_guard" / name);
  EXPECT_TRUE(in) << name;
  return nlohmann::json::parse(in);
}

std::vector<std::string> texts(std::string_view sql) {
  auto r = tokenize(sql);
  EXPECT_FALSE(r.error) << sql << ": " << r.error.value_or("");
  std::vector<std::string> out;
  for (const auto& t : r.tokens) out.emplace_back(t.text);
  return out;
}

using V = std::vector<std::string>;

TEST(SqlLexer, CommentsOfEveryKindVanishAndNestedBlockCommentsClose) {
  EXPECT_EQ(texts("SELECT 1 -- x ; DROP\n, 2"), (V{"SELECT", "1", ",", "2"}));
  EXPECT_EQ(texts("SELECT 4 // 2 ; DROP\n, 5"), (V{"SELECT", "4", ",", "5"}));
  EXPECT_EQ(texts("SELECT 1 # x ; DROP\n, 2"), (V{"SELECT", "1", ",", "2"}));
  EXPECT_EQ(texts("#!/usr/bin/env kobs\nSELECT 1"), (V{"SELECT", "1"}));
  EXPECT_EQ(texts("SELECT /* a /* b ; */ c ; */ 1"), (V{"SELECT", "1"}));
  EXPECT_EQ(texts("SELECT 4/2"), (V{"SELECT", "4", "/", "2"}));
  EXPECT_TRUE(tokenize("SELECT 1 #x").error);
  EXPECT_TRUE(tokenize("SELECT /* /* */ 1").error);  // one level still open
}

TEST(SqlLexer, StringsIdentifiersAndHeredocsKeepTheirContentsWhole) {
  EXPECT_EQ(texts(R"(SELECT 'a;b', 'it''s', 'x\'; DROP', `t;x`, "a""b")"),
            (V{"SELECT", "'a;b'", ",", "'it''s'", ",", R"('x\'; DROP')", ",", "`t;x`", ",", R"("a""b")"}));
  EXPECT_EQ(texts("SELECT $$a; DROP$$, $tag$x$$y$tag$"), (V{"SELECT", "$$a; DROP$$", ",", "$tag$x$$y$tag$"}));
  EXPECT_EQ(texts("SELECT x'41', b'01'"), (V{"SELECT", "x'41'", ",", "b'01'"}));
  EXPECT_EQ(texts("SELECT 'caf\xc3\xa9 \xe2\x80\x98'"), (V{"SELECT", "'caf\xc3\xa9 \xe2\x80\x98'"}));
  auto t = tokenize(R"(SELECT `fi\le`, "a""b", 'x\x41\n')").tokens;
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(unquote(t[1]), "file");
  EXPECT_EQ(unquote(t[3]), "a\"b");
  EXPECT_EQ(unquote(t[5]), "xA\n");
  EXPECT_TRUE(tokenize("SELECT 'open").error);
  EXPECT_TRUE(tokenize("SELECT `open").error);
  EXPECT_TRUE(tokenize("SELECT \"open\\\"").error);
}

TEST(SqlLexer, NumbersAndDotsSplitAsClickHouseSplitsThem) {
  EXPECT_EQ(texts("SELECT 1e-5, 0x1F, 0b101, 1_000, .5, 1.5e+3"),
            (V{"SELECT", "1e-5", ",", "0x1F", ",", "0b101", ",", "1_000", ",", ".5", ",", "1.5e+3"}));
  EXPECT_EQ(texts("SELECT x.1.1, t.a"), (V{"SELECT", "x", ".", "1", ".", "1", ",", "t", ".", "a"}));
  EXPECT_EQ(texts("SELECT 1abc, 1SETTINGS"), (V{"SELECT", "1abc", ",", "1SETTINGS"}));
  EXPECT_EQ(texts("SELECT a->b, a::String, a||b, a<>b, a!=b, a==b"),
            (V{"SELECT", "a", "->", "b", ",", "a", "::", "String", ",", "a", "||", "b", ",", "a", "<>", "b", ",", "a",
               "!=", "b", ",", "a", "==", "b"}));
}

TEST(SqlLexer, NonAsciiAndControlBytesOutsideLiteralsAreErrors) {
  // ClickHouse reads NBSP as whitespace and U+2018/U+2019 as string quotes;
  // refusing them keeps the two lexers from ever disagreeing.
  EXPECT_TRUE(tokenize("SELECT\xc2\xa0" "1").error);
  EXPECT_TRUE(tokenize("SELECT \xe2\x80\x98x\xe2\x80\x99").error);
  EXPECT_TRUE(tokenize(std::string("SELECT \0 1", 10)).error);
  EXPECT_TRUE(tokenize("SELECT 1 \\G").error);
  EXPECT_FALSE(tokenize("SELECT 1 -- caf\xc3\xa9").error);
}

TEST(SqlGuard, EveryHostileStatementIsRefusedForItsReasonInClickHouseShape) {
  auto hostile = corpus("hostile_corpus.json");
  ASSERT_GE(hostile.size(), 50u);
  for (const auto& entry : hostile) {
    const std::string sql = entry["sql"];
    auto v = checkReadOnly(sql);
    ASSERT_FALSE(v.accepted()) << sql;
    EXPECT_EQ(v.refusal->reason, entry["reason"].get<std::string>()) << sql << "\n" << v.refusal->text();
    const std::string text = v.refusal->text();
    EXPECT_EQ(text.rfind(fmt::format("Code: {}. DB::Exception: ", v.refusal->code), 0), 0u) << text;
    if (v.refusal->code == 164) {
      EXPECT_TRUE(text.ends_with(". (READONLY)")) << text;
    } else {
      EXPECT_TRUE(v.refusal->code == 62 && text.ends_with(". (SYNTAX_ERROR)")) << text;
    }
  }
}

TEST(SqlGuard, EveryRealClientQueryIsAccepted) {
  auto clients = corpus("client_queries.json");
  for (const auto& entry : clients) {
    const std::string sql = entry["sql"];
    auto v = checkReadOnly(sql);
    EXPECT_TRUE(v.accepted()) << entry["client"] << ": " << sql << "\n" << (v.refusal ? v.refusal->text() : "");
  }
}

TEST(SqlGuard, StatementKinds) {
  EXPECT_EQ(checkReadOnly("select 1").statement.kind, StatementKind::kSelect);
  EXPECT_EQ(checkReadOnly("WITH 1 AS x SELECT x").statement.kind, StatementKind::kSelect);
  EXPECT_EQ(checkReadOnly("((SELECT 1))").statement.kind, StatementKind::kSelect);
  EXPECT_EQ(checkReadOnly("SHOW PROCESSLIST").statement.kind, StatementKind::kShow);
  EXPECT_EQ(checkReadOnly("desc otel_logs").statement.kind, StatementKind::kDescribe);
  EXPECT_EQ(checkReadOnly("EXISTS DATABASE system").statement.kind, StatementKind::kExists);
  EXPECT_EQ(checkReadOnly("EXPLAIN QUERY TREE SELECT 1").statement.kind, StatementKind::kExplain);
  EXPECT_EQ(checkReadOnly("EXPLAIN AST CREATE TABLE t (a UInt8) ENGINE = Memory").refusal->reason, "statement");
  EXPECT_EQ(checkReadOnly("EXPLAIN PLAN readonly = 0 SELECT 1").refusal->reason, "setting");
  for (const char* sql : {"CHECK TABLE otel_logs", "WATCH v", "UNDROP TABLE t", "EXCHANGE TABLES a AND b",
                          "REVOKE ALL ON *.* FROM default", "ATTACH TABLE t", "BEGIN TRANSACTION"}) {
    auto v = checkReadOnly(sql);
    ASSERT_FALSE(v.accepted()) << sql;
    EXPECT_EQ(v.refusal->reason, "statement") << sql;
    EXPECT_EQ(v.refusal->code, 164);
  }
  for (const char* sql : {"SELEC 1", "VALUES (1)", "42", "-- only a comment"}) {
    auto v = checkReadOnly(sql);
    ASSERT_FALSE(v.accepted()) << sql;
    EXPECT_EQ(v.refusal->code, 62) << sql;
  }
  // A write keyword as an alias or a qualified name is not a statement.
  EXPECT_TRUE(checkReadOnly("SELECT 1 AS update, t.delete FROM (SELECT 1 AS delete) AS t").accepted());
  EXPECT_FALSE(checkReadOnly("SELECT 1 update").accepted());
}

TEST(SqlGuard, FormatClauseIsTakenOutAndTrailingSemicolonsDropped) {
  auto v = checkReadOnly("SELECT 1 AS x FORMAT JSONEachRow;;");
  ASSERT_TRUE(v.accepted());
  EXPECT_EQ(v.statement.format, "JSONEachRow");
  EXPECT_EQ(v.statement.sql, "SELECT 1 AS x  ");
  v = checkReadOnly("SELECT 'x FORMAT JSON', format('{}', 1) -- FORMAT CSV");
  EXPECT_EQ(v.statement.format, "");
  EXPECT_EQ(v.statement.sql, "SELECT 'x FORMAT JSON', format('{}', 1)");
  v = checkReadOnly("SELECT 1 FORMAT `TSV` SETTINGS max_result_rows = 1");
  EXPECT_EQ(v.statement.format, "TSV");
  EXPECT_EQ(v.statement.sql, "SELECT 1   SETTINGS max_result_rows = 1");
  // A FORMAT inside a subquery is not the statement's.
  EXPECT_EQ(checkReadOnly("SELECT * FROM (SELECT 1 FORMAT JSON)").statement.format, "");
}

TEST(SqlGuard, SettingsClauseAtTheEndIsReportedSoMoreCanBeAppended) {
  EXPECT_TRUE(checkReadOnly("SELECT 1 SETTINGS max_result_rows = 1").statement.has_settings_clause);
  EXPECT_TRUE(checkReadOnly("SELECT 1 SETTINGS limit = 1, offset = 0 FORMAT JSON").statement.has_settings_clause);
  EXPECT_TRUE(checkReadOnly("SELECT 1 FORMAT JSON SETTINGS limit = 1").statement.has_settings_clause);
  EXPECT_FALSE(checkReadOnly("SELECT * FROM (SELECT 1 SETTINGS limit = 1)").statement.has_settings_clause);
  EXPECT_FALSE(checkReadOnly("SELECT name FROM system.settings").statement.has_settings_clause);
  EXPECT_FALSE(checkReadOnly("SELECT 1").statement.has_settings_clause);
  // Settings values: literals only, signed numbers allowed.
  EXPECT_TRUE(checkReadOnly("SELECT 1 SETTINGS max_execution_time = -1").accepted());
  EXPECT_EQ(checkReadOnly("SELECT 1 SETTINGS max_execution_time = (1)").refusal->reason, "setting");
  EXPECT_EQ(checkReadOnly("SELECT 1 SETTINGS").refusal->reason, "setting");
  EXPECT_EQ(checkReadOnly("SELECT * FROM settings").refusal->reason, "setting");
}

TEST(SqlGuard, SettingAllowListAppliesToUrlParametersToo) {
  EXPECT_FALSE(checkSetting("readonly", "1"));
  EXPECT_FALSE(checkSetting("date_time_output_format", "iso"));
  EXPECT_FALSE(checkSetting("max_execution_time", "30"));
  EXPECT_FALSE(checkSetting("add_http_cors_header", "1"));
  for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"readonly", "0"}, {"readonly", "2"}, {"READONLY", "0"}, {"allow_ddl", "1"}, {"max_threads", "1000"},
           {"max_memory_usage", "0"}, {"format_schema", "/etc/passwd"}, {"output_format_schema", "/tmp/x"},
           {"allow_introspection_functions", "1"}, {"user_files_path", "/"}}) {
    auto r = checkSetting(name, value);
    ASSERT_TRUE(r) << name << "=" << value;
    EXPECT_EQ(r->text(), fmt::format("Code: 164. DB::Exception: Cannot modify '{}' setting in readonly mode. (READONLY)",
                                     name));
    EXPECT_EQ(r->reason, "setting");
  }
}

TEST(SqlGuard, RefusedFunctionsAreRefusedAnywhereAndUnknownTableFunctionsInTablePosition) {
  for (auto name : refusedFunctions()) {
    for (const std::string& sql : {fmt::format("SELECT * FROM {}('x')", name), fmt::format("SELECT {}('x')", name),
                                  fmt::format("SELECT 1 WHERE 1 IN `{}`('x')", name)}) {
      auto v = checkReadOnly(sql);
      ASSERT_FALSE(v.accepted()) << sql;
      EXPECT_EQ(v.refusal->reason, "table_function") << sql;
    }
  }
  for (auto name : allowedTableFunctions())
    EXPECT_TRUE(checkReadOnly(fmt::format("SELECT * FROM {}(1) AS a, {}(2) AS b", name, name)).accepted()) << name;
  // Ordinary functions are fine outside table position; not in it.
  EXPECT_TRUE(checkReadOnly("SELECT format('{}', 1), lower('A'), toDate(now()) FROM numbers(1)").accepted());
  EXPECT_EQ(checkReadOnly("SELECT * FROM format(CSV, '1')").refusal->reason, "table_function");
  EXPECT_EQ(checkReadOnly("SELECT * FROM numbers(1) LEFT JOIN lower('x') ON 1").refusal->reason, "table_function");
  EXPECT_EQ(checkReadOnly("SELECT * FROM default.someTf(1)").refusal->reason, "table_function");
  EXPECT_TRUE(checkReadOnly("SELECT * FROM t ARRAY JOIN range(3) AS r").accepted());
}

}  // namespace
}  // namespace kobs::store::sql_guard
