// The MCP server (src/serve/mcp) over a real embedded store and its real
// HTTP listener, driven with libcurl: JSON-RPC errors, sessions and version
// negotiation, the session bound, auth (token, JWT, none configured,
// disabled), Origin, the hostile corpus refused with the store unchanged,
// caps, the timeout, cancellation, stdio, metrics. The MCP TypeScript SDK
// and the seed's curl line are in tests/js/mcp_sdk.test.mjs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "common/metrics.h"
#include "http/http_server.h"
#include "serve/auth/authenticator.h"
#include "serve/events/events_fixture.h"
#include "serve/mcp/mcp_http.h"
#include "serve/mcp/mcp_server.h"
#include "serve/mcp/mcp_stdio.h"
#include "serve/mcp/mcp_tools.h"
#include "support/http_client.h"
#include "support/jwt.h"
#include "support/temp_dir.h"

namespace kobs::serve::testing {
namespace {

using http::testing::Client;
using http::testing::CurlRequest;
using http::testing::CurlResult;
using mcp::Json;

class McpTest : public EventsStoreTest {
 protected:
  static void SetUpTestSuite() {
    EventsStoreTest::SetUpTestSuite();
    readonly_ = store_->openReadOnly(4, 2).release();  // as the process opens it
  }
  static void TearDownTestSuite() {
    delete readonly_;
    EventsStoreTest::TearDownTestSuite();
  }
  void SetUp() override {
    EventsStoreTest::SetUp();
    start({}, {}, {.auth_disabled = true});
  }
  void TearDown() override { stop(); }
  void stop() {
    if (http_) http_->stop();
    if (server_) server_->stop();
    server_.reset();
    http_.reset();
    mcp_.reset();
    tools_.reset();
  }
  void start(mcp::ToolsOptions to, mcp::ServerOptions so, mcp::HttpOptions ho,
             const auth::Authenticator* authenticator = nullptr) {
    stop();
    registry_ = std::make_unique<metrics::Registry>();
    to.database = database_;
    tools_ = std::make_unique<mcp::McpTools>(*readonly_, to, registry_.get());
    mcp_ = std::make_unique<mcp::McpServer>(*tools_, so, registry_.get());
    http_ = std::make_unique<mcp::McpHttp>(*mcp_, ho, authenticator, registry_.get());
    http::Router router;
    http_->addRoutes(router);
    http::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.worker_threads = 4;
    server_ = std::make_unique<http::Server>(o, std::move(router));
    server_->start();
    http_->start();
  }
  std::string url(const std::string& path = "/mcp") { return http::testing::url(server_->port(), path); }
  CurlResult post(const std::string& body, std::vector<std::string> headers = {}) {
    headers.push_back("Content-Type: application/json");
    headers.push_back("Accept: application/json, text/event-stream");
    return client_.fetch(url(), CurlRequest{.method = "POST", .body = body, .headers = headers});
  }
  static Json parse(const CurlResult& r) { return Json::parse(r.body); }
  // initialize; the session id.
  std::string initialize(const std::string& version = "2025-06-18") {
    auto r = post(Json{{"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"},
                       {"params", {{"protocolVersion", version}, {"capabilities", Json::object()},
                                   {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return r.header("mcp-session-id");
  }
  // tools/call on the tools directly; the CallToolResult.
  Json call(const std::string& tool, Json args) { return tools_->call(tool, args); }
  static Json resultJson(const Json& call_result) {
    return Json::parse(call_result["content"][0]["text"].get<std::string>());
  }
  std::string metricsText() { return registry_->renderPrometheus(); }

  static inline store::IStore* readonly_ = nullptr;
  std::unique_ptr<metrics::Registry> registry_;
  std::unique_ptr<mcp::McpTools> tools_;
  std::unique_ptr<mcp::McpServer> mcp_;
  std::unique_ptr<mcp::McpHttp> http_;
  std::unique_ptr<http::Server> server_;
  Client client_;
};

TEST_F(McpTest, MalformedJsonRpcGetsTheRightErrors) {
  auto parse_error = post("{\"jsonrpc\":\"2.0\",");
  EXPECT_EQ(parse_error.status, 400);
  EXPECT_EQ(parse(parse_error)["error"]["code"], -32700);
  EXPECT_TRUE(parse(parse_error)["id"].is_null());

  for (const char* body : {"42", "\"x\"", "{\"id\":1,\"method\":\"ping\"}", "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
                           "{\"jsonrpc\":\"2.0\",\"id\":1}", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}",
                           "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"ping\"}", "[]"}) {
    auto r = post(body);
    EXPECT_EQ(parse(r)["error"]["code"], -32600) << body << " -> " << r.body;
  }
  auto unknown = parse(post(R"({"jsonrpc":"2.0","id":"u","method":"tools/nope"})"));
  EXPECT_EQ(unknown["error"]["code"], -32601);
  EXPECT_EQ(unknown["id"], "u");
  for (const char* body :
       {R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":[1]})",
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}})",
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope","arguments":{}}})",
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_query","arguments":{"query":5}}})",
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_query","arguments":{}}})",
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_query","arguments":{"query":"SELECT 1","x":1}}})",
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tables","arguments":{"database":"d","page_size":"2"}}})",
        R"({"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"nope"}})"}) {
    auto r = post(body);
    EXPECT_EQ(r.status, 200) << body;
    EXPECT_EQ(parse(r)["error"]["code"], -32602) << body << " -> " << r.body;
  }
  // A batch: answers for the requests only, in order; notifications get none.
  auto batch = parse(post(R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},
                              {"jsonrpc":"2.0","id":2,"method":"nope"},7])"));
  ASSERT_TRUE(batch.is_array());
  ASSERT_EQ(batch.size(), 3u) << batch.dump();
  EXPECT_EQ(batch[0]["result"], Json::object());
  EXPECT_EQ(batch[1]["error"]["code"], -32601);
  EXPECT_EQ(batch[2]["error"]["code"], -32600);
  auto only_notifications = post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  EXPECT_EQ(only_notifications.status, 202);
  EXPECT_TRUE(only_notifications.body.empty());
  auto initialize_in_batch = parse(post(R"([{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}])"));
  EXPECT_EQ(initialize_in_batch[0]["error"]["code"], -32600);
  EXPECT_EQ(post("{}", {"Content-Type: text/plain"}).status, 415);
  EXPECT_EQ(client_.fetch(url(), CurlRequest{.method = "POST", .body = "{}", .headers = {"Content-Type: text/plain"}}).status, 415);
  EXPECT_NE(metricsText().find("kobs_mcp_rpc_errors_total{kind=\"parse_error\"} 1"), std::string::npos);
}

TEST_F(McpTest, SessionsNegotiateVersionsAndEndWithDelete) {
  for (const auto& v : mcp::supportedProtocolVersions()) {
    auto r = post(Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"}, {"params", {{"protocolVersion", v}}}}.dump());
    EXPECT_EQ(parse(r)["result"]["protocolVersion"], v);
    EXPECT_EQ(r.header("mcp-session-id").size(), 32u);
  }
  auto future = parse(post(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2099-01-01"}})"));
  EXPECT_EQ(future["result"]["protocolVersion"], mcp::supportedProtocolVersions().front());
  EXPECT_EQ(future["result"]["serverInfo"]["name"], "kobs");

  const std::string id = initialize();
  ASSERT_FALSE(id.empty());
  const std::vector<std::string> h = {"Mcp-Session-Id: " + id, "MCP-Protocol-Version: 2025-06-18"};
  EXPECT_EQ(post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", h).status, 202);
  EXPECT_EQ(parse(post(R"({"jsonrpc":"2.0","id":2,"method":"ping"})", h))["result"], Json::object());
  EXPECT_EQ(post(R"({"jsonrpc":"2.0","id":2,"method":"ping"})", {"Mcp-Session-Id: " + id, "MCP-Protocol-Version: 1999-01-01"}).status, 400);
  EXPECT_EQ(post(R"({"jsonrpc":"2.0","id":2,"method":"ping"})", {"Mcp-Session-Id: nope"}).status, 404);
  EXPECT_EQ(client_.fetch(url(), CurlRequest{.method = "DELETE", .headers = h}).status, 200);
  EXPECT_EQ(post(R"({"jsonrpc":"2.0","id":3,"method":"ping"})", h).status, 404);
  EXPECT_EQ(client_.fetch(url(), CurlRequest{.method = "DELETE", .headers = h}).status, 404);
  // Stateless: no session header at all (curl's one-line calls).
  EXPECT_EQ(parse(post(R"({"jsonrpc":"2.0","id":4,"method":"tools/list"})"))["result"]["tools"].size(), 6u);
  EXPECT_EQ(client_.fetch(url("/health")).body, "OK");
}

TEST_F(McpTest, ServerStreamOpensOncePerSessionAndKeepsAlive) {
  start({}, {}, {.auth_disabled = true, .keepalive = std::chrono::milliseconds(50)});
  const std::string id = initialize();
  http::testing::RawSocket s(server_->port());
  s.send("GET /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nMcp-Session-Id: " + id + "\r\n\r\n");
  auto head = s.readUntil(": keepalive", std::chrono::seconds(60));
  EXPECT_NE(head.find("200 OK"), std::string::npos) << head;
  EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;
  EXPECT_EQ(client_.fetch(url(), CurlRequest{.headers = {"Accept: text/event-stream", "Mcp-Session-Id: " + id}}).status,
            409);
  EXPECT_EQ(client_.fetch(url(), CurlRequest{.headers = {"Accept: text/event-stream"}}).status, 400);
  // DELETE ends the stream too.
  EXPECT_EQ(client_.fetch(url(), CurlRequest{.method = "DELETE", .headers = {"Mcp-Session-Id: " + id}}).status, 200);
  EXPECT_TRUE(s.waitClosed(std::chrono::seconds(60)));
}

TEST_F(McpTest, SessionFloodIsBounded) {
  start({}, {.max_sessions = 5}, {.auth_disabled = true});
  const std::string first = initialize();
  for (int i = 0; i < 60; ++i) initialize();
  EXPECT_EQ(mcp_->sessionCount(), 5u);
  // The least recently used made room: the first client initializes again.
  EXPECT_EQ(post(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", {"Mcp-Session-Id: " + first}).status, 404);
  EXPECT_NE(metricsText().find("kobs_mcp_sessions_evicted_total 56"), std::string::npos) << metricsText();
  EXPECT_NE(metricsText().find("kobs_mcp_sessions_open 5"), std::string::npos);
  // Idle ones expire.
  start({}, {.max_sessions = 5, .idle_timeout = std::chrono::milliseconds(1)}, {.auth_disabled = true});
  initialize();
  initialize();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past the 1 ms idle timeout, no timing asserted
  EXPECT_EQ(mcp_->reapIdle(), 2u);
  EXPECT_EQ(mcp_->sessionCount(), 0u);
}

TEST_F(McpTest, BearerTokenOrJwtRequiredUnlessDisabledHealthOpen) {
  const std::string ping = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  start({}, {}, {});  // nothing configured: everything refused
  auto none = post(ping);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.header("www-authenticate"), "Bearer");
  EXPECT_NE(none.body.find("mcp.auth_disabled"), std::string::npos) << none.body;
  EXPECT_EQ(client_.fetch(url("/health")).status, 200);

  auth::AuthOptions ao;
  ao.jwt_hs256_secret = "jwt-secret";
  auto verifier = auth::Authenticator::create(ao);
  start({}, {}, {.auth_token = "s3cret-token"}, verifier.get());
  EXPECT_EQ(post(ping).status, 401);
  EXPECT_EQ(post(ping, {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(post(ping, {"Authorization: Bearer s3cret-token"}).status, 200);
  EXPECT_EQ(post(ping, {"Authorization: Basic czNjcmV0LXRva2Vu"}).status, 401);
  const auto exp = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch() + std::chrono::hours(1)).count();
  const std::string jwt = kobs::testing::jwt::hs256({{"sub", "agent"}, {"exp", exp}}, "jwt-secret");
  EXPECT_EQ(post(ping, {"Authorization: Bearer " + jwt}).status, 200);
  EXPECT_EQ(post(ping, {"Authorization: Bearer " + kobs::testing::jwt::hs256({{"exp", exp}}, "other")}).status, 401);
  EXPECT_EQ(client_.fetch(url("/sse")).status, 401);
  EXPECT_EQ(client_.fetch(url("/health")).status, 200);
  EXPECT_NE(metricsText().find("kobs_mcp_http_refused_total{reason=\"auth\"} 5"), std::string::npos) << metricsText();
}

TEST_F(McpTest, ForeignOriginsAreRefused) {
  const std::string ping = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  auto evil = post(ping, {"Origin: http://evil.example"});
  EXPECT_EQ(evil.status, 403);
  auto local = post(ping, {"Origin: http://localhost:6274"});
  EXPECT_EQ(local.status, 200);
  EXPECT_EQ(local.header("access-control-allow-origin"), "http://localhost:6274");
  EXPECT_EQ(client_.fetch(url(), CurlRequest{.method = "OPTIONS", .headers = {"Origin: http://evil.example"}}).status, 403);
  auto preflight = client_.fetch(url(), CurlRequest{.method = "OPTIONS", .headers = {"Origin: http://127.0.0.1:3000"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_NE(preflight.header("access-control-allow-headers").find("Mcp-Session-Id"), std::string::npos);
  start({}, {}, {.auth_disabled = true, .allowed_origins = {"https://portal.example"}});
  EXPECT_EQ(post(ping, {"Origin: https://portal.example"}).status, 200);
  EXPECT_EQ(post(ping, {"Origin: http://evil.example"}).status, 403);
}

// Everything the store holds that a write could change: tables with their
// row counts and engines, databases.
std::string storeState(store::IStore& s) {
  return s.query("SELECT database, name, engine, total_rows FROM system.tables WHERE database NOT IN ('system', "
                 "'INFORMATION_SCHEMA', 'information_schema') ORDER BY database, name",
                 "TabSeparated").data +
         s.query("SELECT name FROM system.databases ORDER BY name", "TabSeparated").data;
}

TEST_F(McpTest, HostileCorpusIsRefusedAndNothingChanges) {
  insertEvents({{.composition_id = "c1"}, {.composition_id = "c2"}});
  std::ifstream in(kobs::testing::sourceDir() / "tests/store/sql_guard/hostile_corpus.json");
  const auto corpus = Json::parse(in);
  ASSERT_GE(corpus.size(), 50u);
  kobs::testing::TempDir dir;
  const std::string outfile = (dir.path() / "outfile").string();
  const std::string before = storeState(*store_);
  for (const auto& entry : corpus) {
    std::string sql = entry["sql"];
    for (auto at = sql.find("{outfile}"); at != std::string::npos; at = sql.find("{outfile}")) sql.replace(at, 9, outfile);
    for (const char* tool : {"run_query", "run_select_query"}) {
      auto r = call(tool, {{"query", sql}});
      ASSERT_TRUE(r["isError"].get<bool>()) << sql << "\n" << r.dump();
      const std::string text = r["content"][0]["text"];
      EXPECT_TRUE(text.find("Code: 164.") != std::string::npos || text.find("Code: 62.") != std::string::npos)
          << sql << "\n" << text;
    }
  }
  EXPECT_EQ(storeState(*store_), before);
  EXPECT_FALSE(std::filesystem::exists(outfile));
  // The same through HTTP, one of each kind, and the error counter.
  auto r = parse(post(Json{{"jsonrpc", "2.0"}, {"id", 9}, {"method", "tools/call"},
                           {"params", {{"name", "run_query"}, {"arguments", {{"query", "TRUNCATE TABLE `" + database_ + "`.otel_logs"}}}}}}
                          .dump()));
  EXPECT_TRUE(r["result"]["isError"].get<bool>());
  EXPECT_EQ(storeState(*store_), before);
  EXPECT_NE(metricsText().find("kobs_mcp_tool_calls_total{tool=\"run_query\",outcome=\"error\"} 1"), std::string::npos);
}

TEST_F(McpTest, ResultsAreCappedWithTheCountBeforeTheCut) {
  start({.max_rows = 3, .scan_rows = 1000}, {}, {.auth_disabled = true});
  auto r = resultJson(call("run_query", {{"query", "SELECT number FROM numbers(10)"}}));
  EXPECT_EQ(r["rows"].size(), 3u);
  EXPECT_TRUE(r["truncated"].get<bool>());
  EXPECT_EQ(r["total_rows"], 10);
  EXPECT_TRUE(r["total_rows_exact"].get<bool>());
  auto whole = resultJson(call("run_query", {{"query", "SELECT number FROM numbers(3)"}}));
  EXPECT_FALSE(whole["truncated"].get<bool>());
  EXPECT_FALSE(whole.contains("total_rows"));
  auto beyond_scan = resultJson(call("run_query", {{"query", "SELECT number FROM numbers(100000)"}}));
  EXPECT_FALSE(beyond_scan["total_rows_exact"].get<bool>());
  EXPECT_GE(beyond_scan["total_rows"].get<int>(), 1000);

  start({.max_bytes = 100}, {}, {.auth_disabled = true});
  auto bytes = resultJson(call("run_query", {{"query", "SELECT repeat('x', 30) FROM numbers(10)"}}));
  EXPECT_TRUE(bytes["truncated"].get<bool>());
  EXPECT_EQ(bytes["rows"].size(), 2u);  // 2 x ~35 bytes fit in 100, a third does not
  EXPECT_EQ(bytes["total_rows"], 10);
  EXPECT_NE(metricsText().find("kobs_mcp_results_truncated_total 1"), std::string::npos);
  // Big integers as strings, as the official server; decimals quoted.
  auto big = resultJson(call("run_query", {{"query", "SELECT toUInt64(18446744073709551615) AS a, 7 AS b, toDecimal64(1.25, 2) AS c"}}));
  EXPECT_EQ(big["rows"][0], (Json::array({"18446744073709551615", 7, "1.25"})));
}

TEST_F(McpTest, QueryTimeoutStopsTheQuery) {
  start({.query_timeout = std::chrono::milliseconds(300)}, {}, {.auth_disabled = true});
  auto r = call("run_query", {{"query", "SELECT sum(number) FROM numbers(1000000000000)"}});
  EXPECT_TRUE(r["isError"].get<bool>());
  EXPECT_EQ(r["content"][0]["text"], "Query timed out after 0.3 seconds");
}

TEST_F(McpTest, CancelledCallKillsItsQuery) {
  start({.query_timeout = std::chrono::seconds(120)}, {}, {.auth_disabled = true});
  const std::string id = initialize();
  const std::vector<std::string> h = {"Mcp-Session-Id: " + id};
  auto running = std::async(std::launch::async, [&] {
    Client c;
    return c.fetch(url(), CurlRequest{.method = "POST",
                                      .body = R"J({"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"run_query","arguments":{"query":"SELECT sum(number) FROM numbers(1000000000003)"}}})J",
                                      .headers = {"Content-Type: application/json", "Mcp-Session-Id: " + id},
                                      .timeout_ms = 200000});
  });
  // Wait until the query runs in the store, then cancel it (its own size:
  // the timeout test's query may still be listed while it stops).
  bool seen = false;
  for (int i = 0; i < 600 && !seen; ++i) {
    seen = store_->query("SELECT count() FROM system.processes WHERE Settings['log_comment'] LIKE 'kobs-mcp-%' AND "
                         "query LIKE '%numbers(1000000000003)%'",
                         "TabSeparated").data != "0\n";
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(seen) << "the query never showed in system.processes";
  EXPECT_EQ(post(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow","reason":"user"}})", h).status, 202);
  auto r = running.get();
  auto body = parse(r);
  EXPECT_TRUE(body["result"]["isError"].get<bool>()) << r.body;
  EXPECT_EQ(body["result"]["content"][0]["text"], "Query cancelled") << r.body;
  EXPECT_NE(metricsText().find("kobs_mcp_queries_killed_total 1"), std::string::npos);
  EXPECT_NE(metricsText().find("kobs_mcp_tool_calls_total{tool=\"run_query\",outcome=\"cancelled\"} 1"), std::string::npos);
}

TEST_F(McpTest, ToolsAnswerFromTheStore) {
  insertEvents({{.composition_id = "comp-a", .reason = "Failed", .type = "Warning"}, {.composition_id = "comp-a"},
                {.composition_id = "comp-b"}});
  auto dbs = Json::parse(call("list_databases", Json::object())["content"][0]["text"].get<std::string>());
  EXPECT_NE(std::find(dbs.begin(), dbs.end(), database_), dbs.end());
  auto tables = resultJson(call("list_tables", {{"database", database_}, {"like", "otel_logs"}}));
  ASSERT_EQ(tables["tables"].size(), 1u);
  EXPECT_EQ(tables["tables"][0]["name"], "otel_logs");
  EXPECT_EQ(tables["tables"][0]["total_rows"], 3);
  EXPECT_EQ(tables["total_tables"], 1);
  auto timeline = resultJson(call("composition_timeline", {{"composition_id", "comp-a"}, {"since", "1h"}}));
  ASSERT_EQ(timeline["rows"].size(), 2u) << timeline.dump();
  EXPECT_EQ(timeline["rows"][0][1], "event");
  EXPECT_EQ(timeline["rows"][0][4], "Failed");
  auto none = resultJson(call("composition_timeline", {{"composition_id", "comp-a"}, {"since", "2020-01-01T00:00:00Z"},
                                                       {"until", "2020-01-02T00:00:00Z"}}));
  EXPECT_EQ(none["rows"].size(), 0u);
  EXPECT_THROW(call("composition_timeline", {{"composition_id", "x"}, {"since", "yesterday"}}), mcp::InvalidParams);
  insertEvents({{.reason = "BackOff", .type = "Warning", .kind = "Pod", .name = "web-7", .ns = "shop"}});
  auto pods = resultJson(call("pod_errors", {{"since", "1h"}, {"namespace", "shop"}}));
  ASSERT_EQ(pods["rows"].size(), 1u) << pods.dump();
  EXPECT_EQ(pods["rows"][0][0], "shop");
  EXPECT_EQ(pods["rows"][0][1], "web-7");
  EXPECT_EQ(pods["rows"][0][3], 1);  // one Warning event
  EXPECT_EQ(resultJson(call("pod_errors", {{"since", "1h"}, {"namespace", "other"}}))["rows"].size(), 0u);
}

TEST_F(McpTest, StdioAnswersLineByLine) {
  std::istringstream in(
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05"}})"
      "\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\n\n"
      "garbage\n"
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_query","arguments":{"query":"SELECT 'a\nb' AS s"}}})"
      "\n");
  std::ostringstream out;
  EXPECT_EQ(mcp::runStdio(*mcp_, in, out), 4u);
  std::vector<Json> lines;
  std::istringstream o(out.str());
  for (std::string line; std::getline(o, line);) lines.push_back(Json::parse(line));
  ASSERT_EQ(lines.size(), 3u) << out.str();
  EXPECT_EQ(lines[0]["result"]["protocolVersion"], "2024-11-05");
  EXPECT_EQ(lines[1]["error"]["code"], -32700);
  EXPECT_EQ(resultJson(lines[2]["result"])["rows"][0][0], "a\nb");
  EXPECT_EQ(mcp_->sessionCount(), 0u);  // closed when stdin ended
}

}  // namespace
}  // namespace kobs::serve::testing
