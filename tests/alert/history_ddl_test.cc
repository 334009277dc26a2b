// alert_history's DDL follows the store's schema options like every kobs
// table: a plain MergeTree with the dedup window on one node; ON CLUSTER, a
// Replicated local table and a Distributed table over it on a cluster. The
// statements are checked as text and by the embedded store's own parser
// (formatQuery), and the single-node one is applied.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "alert/alert_service.h"
#include "common/error.h"
#include "store/schema/ddl.h"
#include "store/store.h"
#include "support/embedded_store.h"

namespace kobs::alert {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string engineLine(const std::string& sql) {
  auto b = sql.find("ENGINE = ");
  return b == std::string::npos ? "" : sql.substr(b, sql.find('\n', b) - b);
}

// The server's parser accepts it (formatQuery throws on a syntax error).
void parses(store::IStore& store, const std::string& sql) {
  auto r = store.query("SELECT formatQuery(" + store::quoteString(sql) + ")", "TabSeparated");
  EXPECT_THAT(r.data, HasSubstr("CREATE TABLE")) << sql;
}

TEST(AlertHistoryDdl, SingleNodeIsMergeTreeWithTheDedupWindow) {
  store::schema::SchemaOptions o;
  o.database = "alert_history_ddl";
  o.ttl = std::chrono::hours(24 * 7);
  auto ddl = historyTableDdl(o, "alert_history");
  ASSERT_EQ(ddl.size(), 1u);
  EXPECT_THAT(ddl[0], HasSubstr("CREATE TABLE IF NOT EXISTS `alert_history_ddl`.`alert_history`\n"));
  EXPECT_THAT(ddl[0], Not(HasSubstr("ON CLUSTER")));
  EXPECT_EQ(engineLine(ddl[0]), "ENGINE = MergeTree");
  // A replayed history insert (insert_deduplication_token) is dropped.
  EXPECT_THAT(ddl[0], HasSubstr("non_replicated_deduplication_window = 1000"));
  // History is not telemetry: the tables' TTL does not cut it.
  EXPECT_THAT(ddl[0], Not(HasSubstr("TTL")));

  auto store = kobs::testing::openEmbeddedStore(o.database);
  for (const auto& s : ddl) store->execute(s);
  auto cols = store->query("SELECT groupArray(name) FROM system.columns WHERE database = 'alert_history_ddl' AND "
                           "table = 'alert_history'",
                           "TabSeparated");
  EXPECT_EQ(cols.data, "['Rule','GroupKey','WindowStart','WindowEnd','Value','State','Notified']\n");
}

TEST(AlertHistoryDdl, ClusterModeLikeTheTelemetryTables) {
  store::schema::SchemaOptions o;
  o.database = "obs";
  o.cluster.name = "main";
  auto ddl = historyTableDdl(o, "alert_history");
  ASSERT_EQ(ddl.size(), 2u);
  EXPECT_THAT(ddl[0], HasSubstr("CREATE TABLE IF NOT EXISTS `obs`.`alert_history_local` ON CLUSTER `main`\n"));
  EXPECT_THAT(ddl[0], Not(HasSubstr("non_replicated_deduplication_window")));
  EXPECT_EQ(ddl[1], "CREATE TABLE IF NOT EXISTS `obs`.`alert_history` ON CLUSTER `main`\nAS "
                    "`obs`.`alert_history_local`\nENGINE = Distributed('main', 'obs', 'alert_history_local', rand())");

  // The same engine as the schema's own local tables, whatever the options say.
  o.cluster.zookeeper_path = "/ch/{cluster}/{database}/{table}";
  o.cluster.replica_name = "{replica}-x";
  o.cluster.local_suffix = "_shard";
  ddl = historyTableDdl(o, "alerts");
  ASSERT_EQ(ddl.size(), 2u);
  auto objs = store::schema::buildSchemaObjects(o, store::schema::parseServerVersion("26.7.3.1"));
  std::string logs_local;
  for (const auto& obj : objs)
    if (obj.type == store::schema::SchemaObject::Type::kLocalTable && obj.kind == store::schema::TableKind::kLogs)
      logs_local = obj.sql;
  ASSERT_FALSE(logs_local.empty());
  EXPECT_EQ(engineLine(ddl[0]), engineLine(logs_local));
  EXPECT_EQ(engineLine(ddl[0]), "ENGINE = ReplicatedMergeTree('/ch/{cluster}/{database}/{table}', '{replica}-x')");
  EXPECT_THAT(ddl[0], HasSubstr("`obs`.`alerts_shard` ON CLUSTER `main`"));
  EXPECT_THAT(ddl[1], HasSubstr("Distributed('main', 'obs', 'alerts_shard', rand())"));

  auto store = kobs::testing::openEmbeddedStore("alert_history_ddl_parse");
  for (const auto& s : ddl) parses(*store, s);
  // The parser check can fail: a broken statement is refused.
  EXPECT_THROW(store->query("SELECT formatQuery('CREATE TABLE x ON CLUSTER ENGINE = (')", "TabSeparated"), Exception);
}

}  // namespace
}  // namespace kobs::alert
