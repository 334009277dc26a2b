#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/metrics.h"
#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/chcompat/users_file.h"
#include "store/sql_guard/sql_guard.h"
#include "serve/events/events_api.h"
#include "serve/events/events_fixture.h"
#include "http/http_server.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace kobs::serve::testing {
namespace sql_guard = kobs::store::sql_guard;
namespace {

using http::testing::Client;
using http::testing::CurlRequest;
using http::testing::url;

class ChCompatTest : public EventsStoreTest {
 protected:
  static void SetUpTestSuite() {
    EventsStoreTest::SetUpTestSuite();
    readonly_ = store_->openReadOnly(2, 2).release();  // as the process opens it
  }
  static void TearDownTestSuite() {
    delete readonly_;
    EventsStoreTest::TearDownTestSuite();
  }
  void SetUp() override {
    EventsStoreTest::SetUp();
    startEndpoint({});
  }
  void TearDown() override { server_->stop(); }
  // (Re)starts the endpoint with these options (database and metrics filled in).
  void startEndpoint(chcompat::EndpointOptions o) {
    if (server_) server_->stop();
    o.database = database_;
    o.metrics = &registry_;
    endpoint_ = std::make_unique<chcompat::ClickHouseEndpoint>(*readonly_, std::move(o));
    http::Router router;
    endpoint_->addRoutes(router);
    http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    server_ = std::make_unique<http::Server>(so, std::move(router));
    server_->start();
  }
  // The counter as /metrics shows it.
  uint64_t refusedCount(const std::string& reason) {
    const std::string text = registry_.renderPrometheus();
    const std::string key = "kobs_clickhouse_endpoint_refused_total{reason=\"" + reason + "\"} ";
    const auto at = text.find(key);
    EXPECT_NE(at, std::string::npos) << text;
    return at == std::string::npos ? 0 : std::stoull(text.substr(at + key.size()));
  }
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
  metrics::Registry registry_;
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
// (`?&x`); any other name is a setting: the harmless ones real clients send
// are accepted (and applied), anything else refused with 164 as for a
// readonly=1 user.
TEST_F(ChCompatTest, ProtocolParamsAcceptedHarmlessSettingsAppliedOthersRefused) {
  Client c;
  auto ok = c.fetch(u("/?&stacktrace=0&client_protocol_version=54460&close_session=0&wait_end_of_query=1&query_id=q1"
                      "&query=" + enc("SELECT 7")));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body, "7\n");
  EXPECT_EQ(ok.header("x-clickhouse-query-id"), "q1");
  // HyperDX's defaults, @clickhouse/client's compression flag, mcp-clickhouse's readonly=1.
  auto hdx = c.fetch(u("/?allow_experimental_analyzer=1&date_time_output_format=iso&wait_end_of_query=0"
                       "&cancel_http_readonly_queries_on_client_close=1&max_execution_time=60&readonly=1"
                       "&enable_http_compression=1&add_http_cors_header=1&default_format=JSONEachRow"
                       "&query=" + enc("SELECT toDateTime('2026-03-15 10:00:00', 'UTC') AS t")));
  EXPECT_EQ(hdx.status, 200) << hdx.body;
  EXPECT_EQ(hdx.body, "{\"t\":\"2026-03-15T10:00:00Z\"}\n");  // date_time_output_format=iso applied
  EXPECT_EQ(hdx.header("access-control-allow-origin"), "*");
  // A URL setting joins the statement's own SETTINGS clause, even after a comment.
  auto rows = c.fetch(u("/?max_result_rows=2&result_overflow_mode=break&query=" +
                        enc("SELECT number FROM numbers(10) SETTINGS max_block_size = 1 -- c")));
  EXPECT_EQ(rows.status, 403) << rows.body;  // max_block_size is not allow-listed
  EXPECT_EQ(rows.header("x-clickhouse-exception-code"), "164");
  rows = c.fetch(u("/?max_result_rows=2&result_overflow_mode=break&query=" +
                   enc("SELECT number FROM numbers(10) SETTINGS limit = 3 -- c")));
  EXPECT_EQ(rows.status, 200) << rows.body;
  EXPECT_EQ(rows.body, "0\n1\n2\n");
  const auto before = refusedCount("setting");
  for (const std::string setting : {"readonly=0", "readonly=2", "max_threads=1", "allow_ddl=1", "max_memory_usage=0",
                                    "format_schema=x", "allow_introspection_functions=1"}) {
    auto r = c.fetch(u("/?" + setting + "&query=" + enc("SELECT 1")));
    EXPECT_EQ(r.status, 403) << setting;
    EXPECT_EQ(r.header("x-clickhouse-exception-code"), "164") << setting;
    EXPECT_NE(r.body.find("Cannot modify '" + setting.substr(0, setting.find('=')) + "' setting in readonly mode"),
              std::string::npos) << r.body;
  }
  EXPECT_EQ(refusedCount("setting"), before + 7);
}

// Inserts name themselves in ?query= and send their rows (binary, maybe
// compressed) as the body: refused as READONLY, not as a syntax error.
TEST_F(ChCompatTest, InsertsWithDataInTheBodyAreRefusedAsReadonly) {
  Client c;
  const std::string binary("\x04\x22\x4d\x18\x01\x00", 6);
  auto url_insert = c.fetch(u("/?query=" + enc("INSERT INTO otel_logs FORMAT Native")),
                            CurlRequest{.method = "POST", .body = binary});
  EXPECT_EQ(url_insert.header("x-clickhouse-exception-code"), "164") << url_insert.body;
  auto compressed = c.fetch(u("/"), CurlRequest{.method = "POST", .body = binary,
                                                .headers = {"Content-Encoding: lz4"}});
  EXPECT_EQ(compressed.header("x-clickhouse-exception-code"), "164") << compressed.body;
  EXPECT_NE(compressed.body.find("Content-Encoding: lz4"), std::string::npos) << compressed.body;
  // A plain query split between ?query= and the body still joins.
  auto split = c.fetch(u("/?query=" + enc("SELECT 1 +")), CurlRequest{.method = "POST", .body = "2"});
  EXPECT_EQ(split.body, "3\n");
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

namespace kobs::serve::testing {
namespace sql_guard = kobs::store::sql_guard;
namespace {

nlohmann::json corpus(const std::string& name) {
  std::ifstream in(kobs::testing::sourceDir() / "tests/store/sql_guard" / name);
  return nlohmann::json::parse(in);
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// Tables of the test database and of `default` (the corpus's unqualified
// names), each with its row count, read through the writer connection.
std::string tablesAndRows(store::IStore& store, const std::string& database) {
  std::string out;
  auto names = store.query(fmt::format("SELECT database, name FROM system.tables WHERE database IN ('default', {}) "
                                       "AND engine NOT LIKE '%View' ORDER BY database, name",
                                       store::quoteString(database)),
                           "TabSeparated").data;
  std::istringstream in(names);
  std::string line;
  while (std::getline(in, line)) {
    const auto tab = line.find('\t');
    out += line + "\t" + store.query(fmt::format("SELECT count() FROM {}.{}", store::quoteIdentifier(line.substr(0, tab)),
                                                 store::quoteIdentifier(line.substr(tab + 1))),
                                     "TabSeparated").data;
  }
  return out;
}

// Every statement of the hostile corpus, in the body and in ?query=, is
// refused in ClickHouse's shape and counted; the tables, their rows and the
// file system are as before (no INTO OUTFILE file, no host file in a body).
TEST_F(ChCompatTest, HostileCorpusRefusedInBodyAndQueryWithNothingChanged) {
  store::schema::SchemaOptions so;
  so.database = "default";
  so.krateo_events = true;
  store::schema::SchemaManager::apply(*store_, so);
  insertEvents({{.composition_id = "c1"}, {.composition_id = "c2", .reason = "Pulled"}});
  const std::string outfile = (dir_->path() / "outfile-must-not-exist").string();
  const std::string before = tablesAndRows(*store_, database_);
  ASSERT_NE(before.find("otel_logs\t2"), std::string::npos) << before;
  std::ifstream hostname("/etc/hostname");
  std::string host_line;
  std::getline(hostname, host_line);

  auto hostile = corpus("hostile_corpus.json");
  ASSERT_GE(hostile.size(), 50u);
  std::map<std::string, uint64_t> expected_counts;
  for (const auto* reason : sql_guard::kRefusalReasons) expected_counts[reason] = refusedCount(reason);
  Client c;
  for (const auto& entry : hostile) {
    const std::string sql = replaceAll(entry["sql"], "{outfile}", outfile);
    for (bool in_body : {true, false}) {
      auto r = in_body ? c.fetch(u("/"), CurlRequest{.method = "POST", .body = sql}) : c.fetch(u("/?query=" + enc(sql)));
      const std::string where = (in_body ? "body: " : "?query=: ") + sql;
      const std::string code = r.header("x-clickhouse-exception-code");
      EXPECT_TRUE(code == "164" || code == "62") << where << "\n" << r.body;
      EXPECT_EQ(r.status, code == "164" ? 403 : 400) << where;
      EXPECT_EQ(r.body.rfind("Code: " + code + ". DB::Exception: ", 0), 0u) << where << "\n" << r.body;
      EXPECT_TRUE(r.body.ends_with(code == "164" ? "(READONLY)\n" : "(SYNTAX_ERROR)\n")) << r.body;
      if (host_line.size() >= 6) {
        EXPECT_EQ(r.body.find(host_line), std::string::npos) << where;
      }
      ++expected_counts[entry["reason"].get<std::string>()];
    }
  }
  for (const auto& [reason, count] : expected_counts) EXPECT_EQ(refusedCount(reason), count) << reason;
  EXPECT_FALSE(std::filesystem::exists(outfile));
  EXPECT_EQ(tablesAndRows(*store_, database_), before);
  // The counters are on /metrics.
  EXPECT_NE(registry_.renderPrometheus().find("kobs_clickhouse_endpoint_refused_total{reason=\"into_outfile\"} 18"),
            std::string::npos) << registry_.renderPrometheus();
}

// What real clients send (tests/store/sql_guard/client_queries.json), with
// the parameters their placeholders need, answers 200.
TEST_F(ChCompatTest, RealClientQueriesAnswer) {
  store::schema::SchemaOptions so;
  so.database = "default";
  so.krateo_events = true;
  store::schema::SchemaManager::apply(*store_, so);
  Client c;
  for (const auto& entry : corpus("client_queries.json")) {
    const std::string sql = entry["sql"];
    auto r = c.fetch(u("/?param_c=comp&param_database=default&param_table=otel_logs"),
                     CurlRequest{.method = "POST", .body = sql});
    EXPECT_EQ(r.status, 200) << entry["client"] << ": " << sql << "\n" << r.body;
  }
}

// Every table function chDB has is either allow-listed (and runs) or refused
// in table position; an upgrade that adds one cannot slip through unseen.
TEST_F(ChCompatTest, EveryTableFunctionOfTheEngineIsAllowListedOrRefused) {
  auto names = store_->query("SELECT name FROM system.table_functions ORDER BY name", "TabSeparated").data;
  std::istringstream in(names);
  std::string name;
  size_t seen = 0;
  while (std::getline(in, name)) {
    ++seen;
    auto v = sql_guard::checkReadOnly(fmt::format("SELECT * FROM {}('x')", name));
    const auto& allowed = sql_guard::allowedTableFunctions();
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
    EXPECT_FALSE(v.accepted()) << name;
  }
  EXPECT_GT(seen, 50u);
}

// Authentication from a users file: basic auth, X-ClickHouse-User/Key and
// user/password parameters; wrong or missing credentials get 516 (HTTP 401);
// /ping needs none; an edited file is picked up.
TEST_F(ChCompatTest, UsersFileAuthenticatesTheThreeWaysClickHouseDoes) {
  const std::string users = (dir_->path() / ("users-" + database_)).string();
  std::ofstream(users) << "# kobs users\n"
                          "reader:sha256:" "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" "\n"  // "secret"
                          "plain:pa:ss\n";
  startEndpoint({.users_file = users});
  Client c;
  const std::string q = "/?query=" + enc("SELECT 42");
  auto basic = [](const std::string& up) {
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < up.size(); i += 3) {
      uint32_t n = uint32_t(uint8_t(up[i])) << 16;
      if (i + 1 < up.size()) n |= uint32_t(uint8_t(up[i + 1])) << 8;
      if (i + 2 < up.size()) n |= uint8_t(up[i + 2]);
      out += kAlphabet[(n >> 18) & 63];
      out += kAlphabet[(n >> 12) & 63];
      out += i + 1 < up.size() ? kAlphabet[(n >> 6) & 63] : '=';
      out += i + 2 < up.size() ? kAlphabet[n & 63] : '=';
    }
    return "Authorization: Basic " + out;
  };
  EXPECT_EQ(c.fetch(u("/ping")).status, 200);
  EXPECT_EQ(c.fetch(u(q), CurlRequest{.headers = {basic("reader:secret")}}).body, "42\n");
  EXPECT_EQ(c.fetch(u(q), CurlRequest{.headers = {basic("plain:pa:ss")}}).body, "42\n");
  EXPECT_EQ(c.fetch(u(q), CurlRequest{.headers = {"X-ClickHouse-User: reader", "X-ClickHouse-Key: secret"}}).body, "42\n");
  EXPECT_EQ(c.fetch(u(q + "&user=reader&password=secret")).body, "42\n");
  EXPECT_EQ(c.fetch(u("/events/x?user=reader&password=secret")).status, 200);
  const auto before = refusedCount("auth");
  const std::vector<std::pair<std::string, CurlRequest>> denied = {
      {q, {}},                                                    // default: not listed
      {q, {.headers = {basic("reader:wrong")}}},
      {q, {.headers = {basic("nobody:secret")}}},
      {q, {.headers = {"Authorization: Basic !!!"}}},
      {q, {.headers = {"X-ClickHouse-User: reader", "X-ClickHouse-Key: Secret"}}},
      {q + "&user=reader&password=", {}},
      {q + "&user=reader&password=secret", {.headers = {basic("reader:secret")}}},  // two ways at once
      {"/events/x", {}},
      {"/", {.method = "POST", .body = "SELECT 1"}},
  };
  for (const auto& [path, request] : denied) {
    auto r = c.fetch(u(path), request);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.header("x-clickhouse-exception-code"), "516") << path;
    EXPECT_EQ(r.body.rfind("Code: 516. DB::Exception: ", 0), 0u) << r.body;
    EXPECT_TRUE(r.body.ends_with("(AUTHENTICATION_FAILED)\n")) << r.body;
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << r.body;
  }
  EXPECT_EQ(refusedCount("auth"), before + denied.size());
  // A rotated Secret: the new file replaces the users at the next request.
  std::ofstream(users) << "default:\nreader:changed\n";
  EXPECT_EQ(c.fetch(u(q)).body, "42\n");  // `default` with no password is now listed
  EXPECT_EQ(c.fetch(u(q), CurlRequest{.headers = {basic("reader:secret")}}).status, 401);
  EXPECT_EQ(c.fetch(u(q), CurlRequest{.headers = {basic("reader:changed")}}).body, "42\n");
  // Authenticated or not, the checker still applies.
  EXPECT_EQ(c.fetch(u("/"), CurlRequest{.method = "POST", .body = "SYSTEM STOP MERGES",
                                        .headers = {basic("reader:changed")}}).header("x-clickhouse-exception-code"),
            "164");
}

TEST(ChCompatUsersFile, MalformedFilesAreRefusedNamingTheLine) {
  kobs::testing::TempDir dir;
  const std::string path = (dir.path() / "users").string();
  for (const std::string bad : {"", "# only a comment\n", "nocolon\n", ":nopass\n", "a:sha256:abc\n", "a:1\na:2\n"}) {
    std::ofstream(path, std::ios::trunc) << bad;
    EXPECT_THROW(chcompat::UsersFile{path}, kobs::Exception) << bad;
  }
  EXPECT_THROW(chcompat::UsersFile{(dir.path() / "missing").string()}, kobs::Exception);
  std::ofstream(path, std::ios::trunc) << "u:sha256:" << std::string(64, 'A') << "\r\n";
  chcompat::UsersFile ok(path);
  EXPECT_EQ(ok.size(), 1u);
  EXPECT_FALSE(ok.authenticate("u", ""));
}

}  // namespace
}  // namespace kobs::serve::testing
