#include "store/sql_guard/query_params.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

namespace kobs::store::sql_guard {
namespace {

std::string bind(const std::string& sql, const std::map<std::string, std::optional<std::string>>& values) {
  return bindQueryParams(
      sql,
      [&](const std::string& name) -> std::optional<ParamValue> {
        auto it = values.find(name);
        if (it == values.end()) return std::nullopt;
        if (!it->second) return ParamValue{{}, true};
        return ParamValue{*it->second};
      },
      [](const std::string& name) { throw std::invalid_argument(name); });
}

TEST(QueryParams, TypedLiteralsIdentifiersAndNulls) {
  EXPECT_EQ(bind("SELECT * FROM {t:Identifier} WHERE a = {a:UInt32} AND b = { b : String }",
                 {{"t", "otel_logs"}, {"a", "7"}, {"b", "it's"}}),
            "SELECT * FROM `otel_logs` WHERE a = CAST('7', 'UInt32') AND b = CAST('it\\'s', 'String')");
  EXPECT_EQ(bind("SELECT {n:Nullable(String)}", {{"n", std::nullopt}}), "SELECT CAST(NULL, 'Nullable(String)')");
}

TEST(QueryParams, PlaceholdersInLiteralsAndCommentsStayAndMissingOnesThrow) {
  const std::string sql = "SELECT '{a:UInt8}' /* {a:UInt8} */ -- {a:UInt8}\n";
  EXPECT_EQ(bind(sql, {}), sql);
  EXPECT_THROW(bind("SELECT {missing:UInt8}", {}), std::invalid_argument);
  EXPECT_EQ(bind("SELECT 'unterminated", {}), "SELECT 'unterminated");  // the checker refuses it later
}

}  // namespace
}  // namespace kobs::store::sql_guard
