// HttpStore against a real clickhouse-server (Debian's 18.16 in CI) and
// against a central kobs's ClickHouse-compatible endpoint with its write path
// (a current engine; store_backends.h), directly and through a FaultProxy that
// injects 503s, hangs and dropped connections.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "store/clickhouse/http_store.h"
#include "store/clickhouse/store_backends.h"
#include "support/clickhouse_server.h"
#include "support/fault_proxy.h"

namespace kobs::store {
namespace {

using namespace std::chrono_literals;

void putU32(std::string& b, uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); }
void putString(std::string& b, std::string_view s) {
  uint64_t n = s.size();
  do {
    uint8_t byte = n & 0x7f;
    n >>= 7;
    if (n) byte |= 0x80;
    b.push_back(static_cast<char>(byte));
  } while (n);
  b += s;
}

// Rows (a UInt32, s String, d DateTime) for a = first .. first+count-1.
std::string encodeRows(uint32_t first, uint32_t count, std::string_view payload = "value") {
  std::string body;
  for (uint32_t a = first; a < first + count; ++a) {
    putU32(body, a);
    putString(body, payload);
    putU32(body, 1700000000 + a);
  }
  return body;
}

class HttpStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "central_kobs") {
      server_ = std::make_unique<CentralKobsBackend>();
      return;
    }
    if (testing::ClickhouseServer::binaryPath().empty())
      GTEST_SKIP() << "clickhouse-server is not installed (setup.sh installs it); set KOBS_CLICKHOUSE_SERVER";
    server_ = std::make_unique<ClickhouseServerBackend>();
  }

  HttpStoreOptions options(const std::string& url = {}) const {
    HttpStoreOptions o;
    o.url = url.empty() ? server_->url() : url;
    o.user = server_->user();
    o.password = server_->password();
    o.database = server_->database();
    o.request_timeout = 20s;
    o.retry = {.max_retries = 5, .backoff_base = 5ms, .backoff_max = 50ms};
    return o;
  }

  void createTable(IStore& store, const std::string& name, bool dedup_window = false) {
    server_->createTable(store, name, dedup_window);
  }

  std::string scalar(IStore& store, const std::string& sql) { return store.query(sql, "TabSeparated").data; }

  std::unique_ptr<StoreBackend> server_;
};

INSTANTIATE_TEST_SUITE_P(Backends, HttpStoreTest, ::testing::Values("clickhouse_server", "central_kobs"),
                         [](const auto& info) { return info.param; });

TEST_P(HttpStoreTest, WrongPasswordIsAnAuthErrorNamingUserAndUrl) {
  for (HttpAuthMode mode : {HttpAuthMode::kBasic, HttpAuthMode::kHeaders}) {
    auto o = options();
    o.password = "not-the-password";
    o.auth = mode;
    HttpStore store(o);
    try {
      store.query("SELECT 1", "TabSeparated");
      FAIL() << "expected an auth error";
    } catch (const Exception& e) {
      EXPECT_EQ(e.code(), ErrorCode::kStoreAuth) << e.what();
      EXPECT_EQ(e.clickhouseCode(), server_->wrongPasswordCode()) << e.what();
      std::string msg = e.what();
      EXPECT_NE(msg.find("authentication failed for user 'default' at " + server_->url()), std::string::npos) << msg;
      EXPECT_EQ(msg.find("not-the-password"), std::string::npos) << "the password must not leak into messages";
    }
    EXPECT_EQ(store.counters().retries.load(), 0u);
    EXPECT_EQ(store.counters().errors.load(), 1u);
  }
}

TEST_P(HttpStoreTest, BothAuthModesAuthenticate) {
  for (HttpAuthMode mode : {HttpAuthMode::kBasic, HttpAuthMode::kHeaders}) {
    auto o = options();
    o.auth = mode;
    HttpStore store(o);
    EXPECT_EQ(scalar(store, "SELECT 'authenticated'"), "authenticated\n");
  }
}

TEST_P(HttpStoreTest, SqlErrorsCarryTheirClickhouseCode) {
  HttpStore store(options());
  try {
    store.query("SELEC 1", "TabSeparated");
    FAIL() << "expected a syntax error";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kStoreQuery);
    EXPECT_EQ(e.clickhouseCode(), 62) << e.what();
    EXPECT_NE(std::string(e.what()).find("SELEC 1"), std::string::npos) << e.what();
  }
  try {
    store.query("SELECT * FROM no_such_table", "TabSeparated");
    FAIL() << "expected an unknown table error";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kStoreQuery);
    EXPECT_EQ(e.clickhouseCode(), 60) << e.what();
  }
  EXPECT_EQ(store.counters().retries.load(), 0u);
}

TEST_P(HttpStoreTest, QueryReturnsTheRequestedFormat) {
  HttpStore store(options());
  EXPECT_EQ(store.query("SELECT 1 AS x, 'a' AS y", "JSONEachRow").data, "{\"x\":1,\"y\":\"a\"}\n");
  EXPECT_EQ(store.query("SELECT 1 AS x, 'a' AS y", "TabSeparated").data, "1\ta\n");
  auto json = nlohmann::json::parse(store.query("SELECT 1 AS x, 'a' AS y", "JSON").data);
  EXPECT_EQ(json["rows"], 1);
  EXPECT_EQ(json["data"][0]["y"], "a");
  EXPECT_EQ(json["meta"][1]["name"], "y");
}

TEST_P(HttpStoreTest, SettingsAndDatabaseTravelAsUrlParameters) {
  if (!server_->servesOtherDatabases()) GTEST_SKIP() << "a central kobs serves its own database only";
  auto o = options();
  o.database = "system";
  HttpStore store(o);
  // `one` resolves only in the `system` database.
  EXPECT_EQ(scalar(store, "SELECT dummy FROM one"), "0\n");
  try {
    store.query("SELECT number FROM numbers(100)", "TabSeparated",
                {{"max_result_rows", "10"}, {"result_overflow_mode", "throw"}});
    FAIL() << "the max_result_rows setting was not applied";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kStoreQuery);
    EXPECT_EQ(e.clickhouseCode(), 396) << e.what();  // TOO_MANY_ROWS_OR_BYTES
  }
}

TEST_P(HttpStoreTest, InsertsRowBinaryAndReadsItBack) {
  HttpStore store(options());
  createTable(store, "t_rb");
  std::string body = encodeRows(1, 1000, "hello");
  auto r = store.insert({.table = "t_rb", .columns = {"a", "s", "d"}, .body = body, .rows = 1000});
  EXPECT_EQ(r.rows_written, 1000u);
  EXPECT_FALSE(r.deduplicated);
  EXPECT_EQ(scalar(store, "SELECT count(), sum(a), uniqExact(s), any(s) FROM t_rb"), "1000\t500500\t1\thello\n");
  EXPECT_EQ(scalar(store, "SELECT toUnixTimestamp(d) FROM t_rb WHERE a = 7"), "1700000007\n");
}

TEST_P(HttpStoreTest, LargeBodiesAreGzipped) {
  auto o = options();
  o.compress_min_bytes = 1024;
  HttpStore store(o);
  createTable(store, "t_gz");
  std::string body = encodeRows(0, 50000, std::string(200, 'z'));
  store.insert({.table = "t_gz", .columns = {"a", "s", "d"}, .body = body, .rows = 50000});
  EXPECT_EQ(scalar(store, "SELECT count(), sum(length(s)) FROM t_gz"), "50000\t10000000\n");
  // The body went compressed: far fewer bytes than encoded.
  EXPECT_LT(store.counters().bytes_sent.load(), body.size() / 5);
}

TEST_P(HttpStoreTest, InsertIntoMissingTableIsAQueryError) {
  HttpStore store(options());
  std::string body = encodeRows(0, 3);
  try {
    store.insert({.table = "nope", .columns = {"a", "s", "d"}, .body = body, .rows = 3});
    FAIL();
  } catch (const Exception& e) {
    // kobs refuses it as ACCESS_DENIED (HTTP 403), which the store reads as
    // needing a person (kStoreAuth), as it would from a server.
    EXPECT_EQ(e.code(), server_->missingTableCode() == 497 ? ErrorCode::kStoreAuth : ErrorCode::kStoreQuery)
        << e.what();
    EXPECT_EQ(e.clickhouseCode(), server_->missingTableCode()) << e.what();
  }
}

TEST_P(HttpStoreTest, ConnectionsAreReused) {
  testing::FaultProxy proxy(server_->httpPort());
  HttpStore direct(options());
  HttpStore proxied(options(proxy.url()));
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(scalar(direct, "SELECT " + std::to_string(i)), std::to_string(i) + "\n");
    EXPECT_EQ(scalar(proxied, "SELECT " + std::to_string(i)), std::to_string(i) + "\n");
  }
  EXPECT_EQ(direct.counters().requests.load(), 50u);
  EXPECT_EQ(direct.counters().connections_opened.load(), 1u);
  EXPECT_EQ(proxied.counters().connections_opened.load(), 1u);
  EXPECT_EQ(proxy.connectionsAccepted(), 1u);
  EXPECT_EQ(proxy.requestsSeen(), 50u);
}

TEST_P(HttpStoreTest, ConcurrentCallersEachGetAConnection) {
  HttpStore store(options());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i)
        if (store.query("SELECT sleep(0.001)", "TabSeparated").data == "0\n") ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_LE(store.counters().connections_opened.load(), 4u);
}

TEST_P(HttpStoreTest, Retries503ThenSucceeds) {
  testing::FaultProxy proxy(server_->httpPort());
  HttpStore store(options(proxy.url()));
  proxy.fail503(2);
  EXPECT_EQ(scalar(store, "SELECT 42"), "42\n");
  EXPECT_EQ(proxy.requestsSeen(), 3u);
  EXPECT_EQ(proxy.faultsInjected(), 2u);
  EXPECT_EQ(store.counters().retries.load(), 2u);
  EXPECT_EQ(store.counters().errors.load(), 0u);
}

TEST_P(HttpStoreTest, RetriesAfterATimeout) {
  testing::FaultProxy proxy(server_->httpPort());
  auto o = options(proxy.url());
  o.request_timeout = 500ms;
  HttpStore store(o);
  proxy.hang(1);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(scalar(store, "SELECT 7"), "7\n");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 450ms);
  EXPECT_EQ(proxy.requestsSeen(), 2u);
  EXPECT_EQ(store.counters().retries.load(), 1u);
}

TEST_P(HttpStoreTest, TimeoutIsReportedAsTimeoutWhenRetriesRunOut) {
  testing::FaultProxy proxy(server_->httpPort());
  auto o = options(proxy.url());
  o.request_timeout = 300ms;
  o.retry.max_retries = 1;
  HttpStore store(o);
  proxy.hang(2);
  try {
    store.query("SELECT 1", "TabSeparated");
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kStoreTimeout) << e.what();
  }
  EXPECT_EQ(proxy.requestsSeen(), 2u);
}

TEST_P(HttpStoreTest, RetriesADroppedConnection) {
  testing::FaultProxy proxy(server_->httpPort());
  HttpStore store(options(proxy.url()));
  proxy.drop(1);
  EXPECT_EQ(scalar(store, "SELECT 5"), "5\n");
  EXPECT_EQ(proxy.requestsSeen(), 2u);
  EXPECT_EQ(store.counters().retries.load(), 1u);
}

TEST_P(HttpStoreTest, InsertRetriedAfterADroppedConnectionLandsOnce) {
  HttpStore direct(options());
  createTable(direct, "t_drop");
  testing::FaultProxy proxy(server_->httpPort());
  // The insert is this store's first request, on a fresh connection: libcurl
  // itself silently resends a request whose *reused* connection died before
  // any answer byte, which would hide the store's own retry from the counters.
  HttpStore store(options(proxy.url()));
  std::string body = encodeRows(0, 500);
  proxy.drop(1);  // the proxy reads the whole insert and never forwards it
  auto r = store.insert({.table = "t_drop", .columns = {"a", "s", "d"}, .body = body, .rows = 500});
  EXPECT_EQ(r.rows_written, 500u);
  EXPECT_EQ(store.counters().retries.load(), 1u);
  EXPECT_EQ(proxy.requestsSeen(), 2u);
  EXPECT_EQ(scalar(direct, "SELECT count(), uniqExact(a) FROM t_drop"), "500\t500\n");
}

TEST_P(HttpStoreTest, SqlAndAuthErrorsAreNotRetried) {
  testing::FaultProxy proxy(server_->httpPort());
  HttpStore store(options(proxy.url()));
  EXPECT_THROW(store.query("SELEC 1", "TabSeparated"), Exception);
  EXPECT_EQ(proxy.requestsSeen(), 1u);
  auto bad = options(proxy.url());
  bad.password = "wrong";
  HttpStore bad_store(bad);
  EXPECT_THROW(bad_store.query("SELECT 1", "TabSeparated"), Exception);
  EXPECT_EQ(proxy.requestsSeen(), 2u);
  EXPECT_EQ(store.counters().retries.load() + bad_store.counters().retries.load(), 0u);
}

TEST_P(HttpStoreTest, GivesUpAfterMaxRetries) {
  testing::FaultProxy proxy(server_->httpPort());
  auto o = options(proxy.url());
  o.retry.max_retries = 2;
  HttpStore store(o);
  proxy.fail503(10);
  try {
    store.query("SELECT 1", "TabSeparated");
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kStoreUnavailable);
    EXPECT_EQ(e.clickhouseCode(), 0);
    EXPECT_NE(std::string(e.what()).find("after 2 retries"), std::string::npos) << e.what();
  }
  EXPECT_EQ(proxy.requestsSeen(), 3u);
  EXPECT_EQ(store.counters().errors.load(), 1u);
}

TEST_P(HttpStoreTest, PingAnswersAndReportsADownServer) {
  HttpStore store(options());
  EXPECT_NO_THROW(store.ping());
  server_->kill();
  try {
    store.ping();
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kStoreUnavailable) << e.what();
  }
  EXPECT_EQ(store.counters().retries.load(), 0u) << "ping is a single attempt";
  server_->start();
  EXPECT_NO_THROW(store.ping());
}

// 18.16 sends no X-ClickHouse-Summary; the proxy adds one as a newer server would.
TEST_P(HttpStoreTest, SummaryHeaderDecidesRowsWritten) {
  HttpStore direct(options());
  createTable(direct, "t_sum");
  testing::FaultProxy proxy(server_->httpPort());
  HttpStore store(options(proxy.url()));
  std::string body = encodeRows(0, 10);
  InsertRequest req{.table = "t_sum", .columns = {"a", "s", "d"}, .body = body, .rows = 10};

  // Without the header the row count is unknown: the 200 is trusted.
  EXPECT_EQ(store.insert(req).rows_written, 10u);

  proxy.setResponseHeader("X-ClickHouse-Summary",
                          R"({"read_rows":"0","read_bytes":"0","written_rows":"12","written_bytes":"300"})");
  auto r = store.insert(req);
  EXPECT_EQ(r.rows_written, 12u);  // materialized views may add rows
  EXPECT_FALSE(r.deduplicated);

  proxy.setResponseHeader("X-ClickHouse-Summary", R"({"written_rows":"3"})");
  try {
    store.insert(req);
    FAIL() << "a short write must be an error";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kStoreShortWrite) << e.what();
  }

  proxy.setResponseHeader("X-ClickHouse-Summary", R"({"read_rows":"1","read_bytes":"8","written_rows":"0"})");
  auto q = store.query("SELECT 1", "TabSeparated");
  EXPECT_EQ(q.rows_read, 1u);
  EXPECT_EQ(q.bytes_read, 8u);
}

// Kills the server (SIGKILL) twice while a loop of inserts runs, restarting
// it each time on the same port: every insert call must return success, and
// every row must be in the table.
TEST_P(HttpStoreTest, InsertLoopSurvivesServerKills) {
  auto o = options();
  o.retry = {.max_retries = 100, .backoff_base = 20ms, .backoff_max = 200ms};
  o.connect_timeout = 1s;
  HttpStore store(o);
  // insert_deduplication_token and plain-MergeTree deduplication exist only
  // on newer servers; 18.16 has neither.
  const bool dedup = scalar(store, "SELECT count() FROM system.settings WHERE name = 'insert_deduplication_token'") == "1\n";
  createTable(store, "t_kill", dedup);

  constexpr uint32_t kBatches = 30;
  constexpr uint32_t kRows = 20000;  // one block (< max_insert_block_size): each insert is atomic
  const std::string payload(100, 'k');
  std::atomic<uint32_t> done{0};
  std::atomic<bool> failed{false};
  std::string failure;
  std::thread writer([&] {
    try {
      for (uint32_t b = 0; b < kBatches; ++b) {
        std::string body = encodeRows(b * kRows, kRows, payload);
        InsertRequest req{.table = "t_kill", .columns = {"a", "s", "d"}, .body = body, .rows = kRows};
        if (dedup) req.deduplication_token = "batch-" + std::to_string(b);
        store.insert(req);
        ++done;
      }
    } catch (const std::exception& e) {
      failure = e.what();
      failed = true;
    }
  });
  auto waitFor = [&](uint32_t n) {
    auto deadline = std::chrono::steady_clock::now() + 120s;
    while (done.load() < n && !failed.load() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
  };
  int kills = 0;
  for (uint32_t at : {3u, 12u}) {
    waitFor(at);
    if (failed.load() || done.load() >= kBatches) break;
    server_->kill();
    ++kills;
    std::this_thread::sleep_for(300ms);  // the writer meets a dead server and backs off
    server_->start();
  }
  writer.join();
  ASSERT_FALSE(failed.load()) << failure << "\n" << server_->logTail();
  ASSERT_EQ(kills, 2) << "the loop ended before the server could be killed";
  EXPECT_GT(store.counters().retries.load(), 0u);

  const uint64_t expected = uint64_t{kBatches} * kRows;
  EXPECT_EQ(scalar(store, "SELECT uniqExact(a) FROM t_kill"), std::to_string(expected) + "\n") << "rows were lost";
  uint64_t count = std::stoull(scalar(store, "SELECT count() FROM t_kill"));
  if (dedup) {
    EXPECT_EQ(count, expected);
  } else {
    // Without deduplication, a batch committed just before a kill and then
    // resent is stored twice: only whole batches, at most one per kill.
    EXPECT_EQ((count - expected) % kRows, 0u);
    EXPECT_LE(count - expected, uint64_t(kills) * kRows);
    RecordProperty("duplicated_batches", std::to_string((count - expected) / kRows));
  }
}

TEST_P(HttpStoreTest, DownServerIsUnavailableAfterRetries) {
  auto o = options();
  o.retry.max_retries = 2;
  HttpStore store(o);
  server_->kill();
  try {
    store.query("SELECT 1", "TabSeparated");
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kStoreUnavailable) << e.what();
  }
  EXPECT_EQ(store.counters().retries.load(), 2u);
}

}  // namespace
}  // namespace kobs::store
