// The MCP query rewrite (src/serve/mcp/query_rewrite.h): what it rewrites and
// what it leaves alone, then on a real embedded store with ClickStack's
// otel_logs: the accelerators read from the table, and every query returning
// the same rows rewritten as written (also through run_query and pod_errors).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "common/metrics.h"
#include "serve/events/events_fixture.h"
#include "serve/mcp/mcp_tools.h"
#include "serve/mcp/query_rewrite.h"

namespace kobs::serve::testing {
namespace {

using mcp::Accelerators;
using mcp::rewriteForAccelerators;

Accelerators clickstack() {
  Accelerators a{.database = "default", .table = "otel_logs"};
  a.materialized[{"ResourceAttributes", "k8s.pod.name"}] = "__hdx_materialized_k8s.pod.name";
  a.materialized[{"ResourceAttributes", "k8s.namespace.name"}] = "__hdx_materialized_k8s.namespace.name";
  a.items["ResourceAttributes"] = "ResourceAttributeItems";
  return a;
}

TEST(QueryRewrite, SeedQueriesUseMaterializedColumnsAndTheItemsIndex) {
  const auto a = clickstack();
  EXPECT_EQ(rewriteForAccelerators("SELECT ResourceAttributes['k8s.pod.name'] AS pod,\n"
                                   "ResourceAttributes['k8s.namespace.name'] AS ns, count() AS errors FROM otel_logs "
                                   "WHERE SeverityText IN ('ERROR','FATAL') GROUP BY pod, ns ORDER BY errors DESC",
                                   a)
                .value_or("(none)"),
            "SELECT `__hdx_materialized_k8s.pod.name` AS pod,\n`__hdx_materialized_k8s.namespace.name` AS ns, count() "
            "AS errors FROM otel_logs WHERE SeverityText IN ('ERROR','FATAL') GROUP BY pod, ns ORDER BY errors DESC");
  EXPECT_EQ(rewriteForAccelerators("SELECT Timestamp, Body, ResourceAttributes['k8s.event.reason'] AS reason FROM "
                                   "default.otel_logs WHERE ResourceAttributes['k8s.pod.name'] = 'my-failing-pod' "
                                   "ORDER BY Timestamp DESC LIMIT 50",
                                   a)
                .value_or("(none)"),
            "SELECT Timestamp, Body, ResourceAttributes['k8s.event.reason'] AS reason FROM default.otel_logs WHERE "
            "(`__hdx_materialized_k8s.pod.name` = 'my-failing-pod' AND has(`ResourceAttributeItems`, "
            "'k8s.pod.name=my-failing-pod')) ORDER BY Timestamp DESC LIMIT 50");
  // A key without a materialized column keeps its lookup and still gains the index.
  EXPECT_EQ(rewriteForAccelerators("SELECT count() FROM otel_logs WHERE x = 1 AND ResourceAttributes['a.b'] = 'it''s'",
                                   a)
                .value_or("(none)"),
            "SELECT count() FROM otel_logs WHERE x = 1 AND (ResourceAttributes['a.b'] = 'it''s' AND "
            "has(`ResourceAttributeItems`, 'a.b=it\\'s'))");
  // GROUP BY and WHERE lookups follow an aliased SELECT one.
  EXPECT_EQ(rewriteForAccelerators("SELECT ResourceAttributes['k8s.pod.name'] AS p FROM otel_logs WHERE "
                                   "ResourceAttributes['k8s.pod.name'] != '' GROUP BY ResourceAttributes['k8s.pod.name']",
                                   a)
                .value_or("(none)"),
            "SELECT `__hdx_materialized_k8s.pod.name` AS p FROM otel_logs WHERE `__hdx_materialized_k8s.pod.name` != '' "
            "GROUP BY `__hdx_materialized_k8s.pod.name`");
}

TEST(QueryRewrite, LeavesAloneWhatItCannotProveEquivalent) {
  const auto a = clickstack();
  for (const char* sql : {
           // an unaliased lookup in a SELECT list names the result column after itself
           "SELECT ResourceAttributes['k8s.pod.name'], count() FROM otel_logs GROUP BY ResourceAttributes['k8s.pod.name']",
           // other tables, joins, table functions, another database
           "SELECT ResourceAttributes['k8s.pod.name'] AS p FROM otel_traces",
           "SELECT l.Body FROM otel_logs l JOIN otel_traces t ON l.TraceId = t.TraceId WHERE "
           "ResourceAttributes['k8s.pod.name'] = 'x'",
           "SELECT ResourceAttributes['k8s.pod.name'] AS p FROM merge('default', 'otel_logs')",
           "SELECT ResourceAttributes['k8s.pod.name'] AS p FROM other.otel_logs",
           // qualified or redefined map names
           "SELECT otel_logs.ResourceAttributes['k8s.pod.name'] AS p FROM otel_logs",
           "SELECT ResourceAttributes['k8s.pod.name'] AS p FROM (SELECT LogAttributes AS ResourceAttributes FROM otel_logs)",
           // operators binding tighter than the comparison, BETWEEN, an empty value (true for an absent key)
           "SELECT count() FROM otel_logs WHERE ResourceAttributes['x'] = 'a' || 'b'",
           "SELECT count() FROM otel_logs WHERE 1 + ResourceAttributes['x'] = 'a'",
           "SELECT count() FROM otel_logs WHERE Timestamp BETWEEN 1 AND 2 AND ResourceAttributes['x'] = 'a'",
           "SELECT count() FROM otel_logs WHERE ResourceAttributes['x'] = ''",
           // not a SELECT, no table
           "EXPLAIN SELECT ResourceAttributes['k8s.pod.name'] AS p FROM otel_logs",
           "SELECT 1",
       })
    EXPECT_EQ(rewriteForAccelerators(sql, a), std::nullopt) << sql;
  EXPECT_EQ(rewriteForAccelerators("SELECT ResourceAttributes['k8s.pod.name'] AS p FROM otel_logs", Accelerators{}),
            std::nullopt);
  // The connection's default database is another one: only a qualified name is the table.
  auto other = clickstack();
  other.default_database = false;
  EXPECT_EQ(rewriteForAccelerators("SELECT ResourceAttributes['k8s.pod.name'] AS p FROM otel_logs", other), std::nullopt);
  EXPECT_TRUE(rewriteForAccelerators("SELECT ResourceAttributes['k8s.pod.name'] AS p FROM default.otel_logs", other));
}

class QueryRewriteStoreTest : public EventsStoreTest {};

TEST_F(QueryRewriteStoreTest, RewrittenQueriesReturnTheSameRows) {
  const std::string logs = fmt::format("`{}`.otel_logs", database_);
  // Pods, namespaces, an absent key, an empty value, a value holding '=', events-like rows.
  store_->execute(fmt::format(
      "INSERT INTO {} (Timestamp, SeverityText, SeverityNumber, Body, ResourceAttributes) SELECT now64(9) - "
      "toIntervalSecond(number), if(number % 3 = 0, 'ERROR', 'INFO'), if(number % 3 = 0, 17, 9), concat('line ', "
      "toString(number)), multiIf(number % 7 = 0, map('k8s.namespace.name', 'ns-a'), number % 11 = 0, "
      "map('k8s.pod.name', '', 'k8s.namespace.name', 'ns-b'), number % 13 = 0, map('k8s.pod.name', 'a=b', "
      "'k8s.namespace.name', 'ns-c'), map('k8s.pod.name', concat('pod-', toString(number % 5)), "
      "'k8s.namespace.name', concat('ns-', toString(number % 2)), 'telemetry.source', if(number % 17 = 0, "
      "'k8s-events', 'pods'))) FROM numbers(2000)",
      logs));
  std::vector<std::array<std::string, 3>> rows;
  {
    auto r = store_->query(mcp::acceleratorsSql(database_, "otel_logs"), "JSONCompactEachRow");
    std::istringstream in(r.data);
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      rows.push_back({j[0], j[1], j[2]});
    }
  }
  const auto acc = mcp::parseAccelerators(database_, "otel_logs", rows);
  EXPECT_EQ(acc.materialized.at({"ResourceAttributes", "k8s.pod.name"}), "__hdx_materialized_k8s.pod.name");
  EXPECT_EQ(acc.materialized.count({"ResourceAttributes", "telemetry.source"}), 0u);
  // The text-index flavour (ClickHouse >= 26.2, the embedded store) has the items index.
  EXPECT_EQ(acc.items.at("ResourceAttributes"), "ResourceAttributeItems");

  const std::vector<std::string> queries = {
      "SELECT ResourceAttributes['k8s.pod.name'] AS pod, ResourceAttributes['k8s.namespace.name'] AS ns, count() AS "
      "errors FROM {logs} WHERE SeverityText IN ('ERROR','FATAL') GROUP BY pod, ns ORDER BY errors DESC, pod, ns",
      "SELECT Timestamp, Body FROM {logs} WHERE ResourceAttributes['k8s.pod.name'] = 'pod-3' ORDER BY Timestamp DESC",
      "SELECT count() FROM {logs} WHERE ResourceAttributes['k8s.pod.name'] = 'a=b'",
      "SELECT count() FROM {logs} WHERE NOT ResourceAttributes['k8s.pod.name'] = 'pod-1' OR "
      "ResourceAttributes['k8s.namespace.name'] = 'ns-b'",
      "SELECT count() FROM {logs} WHERE ResourceAttributes['k8s.pod.name'] = 'pod-1' AND "
      "ResourceAttributes['telemetry.source'] = 'k8s-events'",
      "SELECT ResourceAttributes['k8s.pod.name'] AS p, count() AS c FROM {logs} WHERE "
      "ResourceAttributes['k8s.pod.name'] != '' GROUP BY p ORDER BY p",
      "SELECT count() FROM (SELECT ResourceAttributes['k8s.namespace.name'] AS ns FROM {logs} WHERE "
      "ResourceAttributes['k8s.pod.name'] = 'pod-2') WHERE ns = 'ns-0'",
  };
  for (auto q : queries) {
    q = fmt::format(fmt::runtime(q), fmt::arg("logs", logs));
    auto rewritten = rewriteForAccelerators(q, acc);
    ASSERT_TRUE(rewritten) << q;
    const auto expected = store_->query(q, "JSONCompactEachRow").data;
    EXPECT_GT(expected.size(), 0u) << q;
    EXPECT_EQ(store_->query(*rewritten, "JSONCompactEachRow").data, expected) << *rewritten;
  }

  // Through the tools: run_query and pod_errors give what the SQL as written gives.
  metrics::Registry registry;
  auto readonly = store_->openReadOnly(1, 2);
  mcp::McpTools tools(*readonly, {.database = database_}, &registry);
  mcp::McpTools plain(*readonly, {.database = database_, .rewrite_queries = false}, nullptr);
  const std::string q = fmt::format(fmt::runtime(queries[0]), fmt::arg("logs", logs));
  auto a = tools.call("run_query", {{"query", q}});
  auto b = plain.call("run_query", {{"query", q}});
  EXPECT_FALSE(a["isError"].get<bool>()) << a.dump();
  EXPECT_EQ(a["content"], b["content"]);
  auto pa = tools.call("pod_errors", {{"since", "1h"}});
  EXPECT_EQ(pa["content"], plain.call("pod_errors", {{"since", "1h"}})["content"]);
  EXPECT_GT(nlohmann::json::parse(pa["content"][0]["text"].get<std::string>())["rows"].size(), 0u);
  EXPECT_NE(registry.renderPrometheus().find("kobs_mcp_queries_rewritten_total 2"), std::string::npos)
      << registry.renderPrometheus();
}

}  // namespace
}  // namespace kobs::serve::testing
