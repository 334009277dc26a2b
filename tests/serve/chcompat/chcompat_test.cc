#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/events/events_api.h"
#include "serve/events/events_fixture.h"
#include "http/http_server.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace kobs::serve::testing {
namespace {

using http::testing::Client;
using http::testing::CurlRequest;
using http::testing::url;

class ChCompatTest : public EventsStoreTest {
 protected:
  static void SetUpTestSuite() {
    EventsStoreTest::SetUpTestSuite();
    readonly_ = store_->openReadOnly(2).release();
  }
  static void TearDownTestSuite() {
    delete readonly_;
    EventsStoreTest::TearDownTestSuite();
  }
  void SetUp() override {
    EventsStoreTest::SetUp();
    endpoint_ = std::make_unique<chcompat::ClickHouseEndpoint>(*readonly_, chcompat::EndpointOptions{.database = database_});
    http::Router router;
    endpoint_->addRoutes(router);
    http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    server_ = std::make_unique<http::Server>(so, std::move(router));
    server_->start();
  }
  void TearDown() override { server_->stop(); }
  std::string u(const std::string& path) { return url(server_->port(), path); }
  static std::string enc(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.') out.push_back(char(c));
      else out += fmt::format("%{:02X}", c);
    }
    return out;
  }

  static inline store::IStore* readonly_ = nullptr;
  std::unique_ptr<chcompat::ClickHouseEndpoint> endpoint_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(ChCompatTest, PingAndSelectsByGetAndPostWithFormats) {
  Client c;
  auto ping = c.fetch(u("/ping"));
  EXPECT_EQ(ping.status, 200);
  EXPECT_EQ(ping.body, "Ok.\n");
  auto get = c.fetch(u("/?query=" + enc("SELECT 1 AS x, 'a' AS y")));
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "1\ta\n");
  EXPECT_EQ(get.header("x-clickhouse-format"), "TabSeparated");
  EXPECT_FALSE(get.header("x-clickhouse-query-id").empty());
  auto fmtd = c.fetch(u("/?default_format=JSONEachRow&query=" + enc("SELECT 1 AS x")));
  EXPECT_EQ(fmtd.body, "{\"x\":1}\n");
  EXPECT_EQ(fmtd.header("x-clickhouse-format"), "JSONEachRow");
  auto post = c.fetch(u("/"), CurlRequest{.method = "POST", .body = "SELECT 2 AS z FORMAT JSONCompactEachRow"});
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, "[2]\n");
  EXPECT_EQ(post.header("x-clickhouse-format"), "JSONCompactEachRow");
  auto params = c.fetch(u("/?param_n=41&query=" + enc("SELECT {n:UInt8} + 1")));
  EXPECT_EQ(params.body, "42\n");
}

TEST_F(ChCompatTest, SeesRowsCommittedAfterItOpened) {
  Client c;
  const std::string q = "/?query=" + enc(fmt::format("SELECT count() FROM `{}`.otel_logs", database_));
  EXPECT_EQ(c.fetch(u(q)).body, "0\n");
  insertEvent({.composition_id = "x"});
  EXPECT_EQ(c.fetch(u(q)).body, "1\n");
  EXPECT_EQ(c.fetch(u("/?database=" + database_ + "&query=" + enc("SELECT 1"))).status, 200);
}

TEST_F(ChCompatTest, WritesDdlSystemSettingsAndTableFunctionsRefusedAs164) {
  Client c;
  const std::vector<std::string> refused = {
      fmt::format("INSERT INTO `{}`.otel_logs (Body) VALUES ('x')", database_),
      fmt::format("DROP TABLE `{}`.otel_logs", database_),
      fmt::format("CREATE TABLE `{}`.t (a UInt8) ENGINE = Memory", database_),
      "SYSTEM DROP DNS CACHE",
      "SET readonly = 0",
      "SELECT 1 SETTINGS readonly = 0",
      "SELECT * FROM file('/etc/passwd', 'LineAsString')",
      "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')",
  };
  for (const auto& sql : refused) {
    auto r = c.fetch(u("/"), CurlRequest{.method = "POST", .body = sql});
    EXPECT_EQ(r.header("x-clickhouse-exception-code"), "164") << sql << "\n" << r.body;
    EXPECT_EQ(r.status, 403) << sql;
    EXPECT_EQ(r.body.rfind("Code: 164. DB::Exception:", 0), 0u) << r.body;
  }
  auto setting = c.fetch(u("/?max_threads=1&query=" + enc("SELECT 1")));
  EXPECT_EQ(setting.header("x-clickhouse-exception-code"), "164");
  EXPECT_EQ(store_->query(fmt::format("SELECT count() FROM system.tables WHERE database = '{}' AND name = 'otel_logs'", database_),
                          "TabSeparated").data, "1\n");
  auto syntax = c.fetch(u("/?query=" + enc("SELEC 1")));
  EXPECT_EQ(syntax.header("x-clickhouse-exception-code"), "62");
  EXPECT_EQ(syntax.status, 400);
  auto missing = c.fetch(u("/?query=" + enc("SELECT * FROM no_such_table_here")));
  EXPECT_EQ(missing.header("x-clickhouse-exception-code"), "60");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(c.fetch(u("/?database=elsewhere&query=" + enc("SELECT 1"))).header("x-clickhouse-exception-code"), "81");
}

// ClickHouse's HTTP handler skips its reserved protocol names and empty ones
// (`?&x`); any other name is a setting, refused for a readonly=1 user even when
// a client adds it for you (@clickhouse/client's compression.response sends
// enable_http_compression=1, which its docs say readonly users cannot use).
TEST_F(ChCompatTest, ProtocolParamsAcceptedAndClientSettingsRefused) {
  Client c;
  auto ok = c.fetch(u("/?&stacktrace=0&client_protocol_version=54460&close_session=0&wait_end_of_query=1&query_id=q1"
                      "&query=" + enc("SELECT 7")));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body, "7\n");
  EXPECT_EQ(ok.header("x-clickhouse-query-id"), "q1");
  for (const std::string setting : {"enable_http_compression=1", "readonly=0", "max_result_rows=1"}) {
    auto r = c.fetch(u("/?" + setting + "&query=" + enc("SELECT 1")));
    EXPECT_EQ(r.status, 403) << setting;
    EXPECT_EQ(r.header("x-clickhouse-exception-code"), "164") << setting;
    EXPECT_NE(r.body.find("Cannot modify '" + setting.substr(0, setting.find('=')) + "' setting in readonly mode"),
              std::string::npos) << r.body;
  }
}

TEST_F(ChCompatTest, EventsHandlerAnswersLikeThePredefinedQuery) {
  std::vector<TestEvent> evs;
  for (int i = 0; i < 60; ++i)
    evs.push_back({.composition_id = "comp", .message = "m" + std::to_string(i),
                   .timestamp_ns = 1773572400000000000 + int64_t(i) * 1000000});
  evs.push_back({.composition_id = "other"});
  insertEvents(evs);
  Client c;
  for (const std::string path : {"/events?composition_id=comp&limit=50", "/events/comp"}) {
    auto r = c.fetch(u(path));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-clickhouse-format"), "JSON");
    auto j = nlohmann::json::parse(r.body);
    std::vector<std::string> names;
    for (auto& m : j["meta"]) {
      names.push_back(m["name"]);
      EXPECT_EQ(m["type"], "String");
    }
    EXPECT_EQ(names, (std::vector<std::string>{"obj_name", "obj_namespace", "obj_uid", "obj_kind", "reason", "message",
                                               "type", "eventTime", "source_component"}));
    EXPECT_EQ(j["rows"], 50);
    EXPECT_EQ(j["data"][0]["message"], "m59");
    EXPECT_EQ(j["data"][49]["message"], "m10");
    EXPECT_EQ(j["data"][0]["eventTime"], "2026-03-15T10:00:00Z");
  }
  EXPECT_EQ(nlohmann::json::parse(c.fetch(u("/events?composition_id=comp&limit=5")).body)["rows"], 5);
  EXPECT_EQ(c.fetch(u("/events")).header("x-clickhouse-exception-code"), "456");
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The RESTAction's `filter: >` block, as shipped.
std::string restActionFilter() {
  const std::string yaml = readFile((kobs::testing::sourceDir() / "deploy/blueprint-templates/restaction.composition-events.yaml").string());
  std::istringstream in(yaml);
  std::string line, filter;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("  filter: >", 0) == 0) {
      inside = true;
      continue;
    }
    if (inside) {
      if (!line.empty() && line.rfind("    ", 0) != 0) break;
      filter += line + "\n";
    }
  }
  return filter;
}

std::string runJq(const std::string& filter, const std::string& input, const std::string& dir) {
  const std::string in_path = dir + "/jq-in.json", filter_path = dir + "/filter.jq";
  std::ofstream(in_path) << input;
  std::ofstream(filter_path) << filter;
  std::string cmd = "jq -c -f " + filter_path + " " + in_path;
  std::unique_ptr<FILE, decltype(&pclose)> p(popen(cmd.c_str(), "r"), &pclose);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  return out;
}

// jq runs the shipped RESTAction filter over this endpoint's /events; its
// list equals kobs's REST /events/{id} apart from involvedObject.apiVersion.
TEST_F(ChCompatTest, RestActionFilterOverEventsEqualsRestListWithoutApiVersion) {
  insertEvents({{.composition_id = "cx", .reason = "A", .message = "x<&>\"y\"", .timestamp_ns = 1773572400000000000},
                {.composition_id = "cx", .reason = "B", .kind = "Deployment", .api_version = "apps/v1",
                 .event_time = "2026-03-15T11:00:00.000001Z", .timestamp_ns = 1773572401000000000},
                {.composition_id = "cx", .reason = "C", .last_timestamp = "", .timestamp_ns = 1773572402000000000}});
  events::EventReader reader(*store_, database_, "krateo_events");
  events::EventFeed feed(reader, {});
  events::EventsApi api({}, nullptr);
  http::Router router;
  api.addRoutes(router);
  api.attach(reader, feed);
  http::ServerOptions so;
  so.listen = "127.0.0.1:0";
  http::Server rest(so, std::move(router));
  rest.start();
  Client c;
  const std::string ch = c.fetch(u("/events?composition_id=cx&limit=50")).body;
  const std::string filter = restActionFilter();
  ASSERT_NE(filter.find("getEvents.data"), std::string::npos) << filter;
  const std::string jq_out = runJq(filter, "{\"getEvents\":" + ch + "}", dir_->str());
  auto from_jq = nlohmann::json::parse(jq_out)["list"];
  auto from_rest = nlohmann::json::parse(c.fetch(url(rest.port(), "/events/cx")).body);
  ASSERT_EQ(from_rest.size(), 3u);
  for (auto& e : from_rest) e["involvedObject"].erase("apiVersion");
  EXPECT_EQ(from_jq, from_rest) << jq_out;
  // A failed call (continueOnError: no data) gives an empty list.
  EXPECT_EQ(runJq(filter, "{\"getEventsError\":\"boom\"}", dir_->str()), "{\"list\":[]}\n");
  rest.stop();
}

}  // namespace
}  // namespace kobs::serve::testing
