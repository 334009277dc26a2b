// The write path of the ClickHouse-compatible endpoint (write_path.h) over a
// real embedded store, driven by kobs's own ClickHouse store (HttpStore, the
// client a node agent runs) and by curl: the agent's schema step, RowBinary
// inserts into Map columns with deduplication tokens, the summary header,
// ClickHouse's error codes, auth, limits, and a slow client.
#include <gtest/gtest.h>

#include <zlib.h>

#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "common/error.h"
#include "common/metrics.h"
#include "http/http_server.h"
#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/chcompat/write_path.h"
#include "store/clickhouse/body_codec.h"
#include "store/clickhouse/http_store.h"
#include "store/schema/ddl.h"
#include "store/schema/schema_manager.h"
#include "support/embedded_store.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace kobs::serve::chcompat {
namespace {

using namespace std::chrono_literals;
using http::testing::Client;
using http::testing::CurlRequest;
using http::testing::CurlResult;

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

// RowBinary rows for otel_logs (Timestamp, ServiceName, Body, LogAttributes):
// DateTime64(9) as Int64, LowCardinality(String) and String as strings, the
// Map as a count and key/value pairs.
std::string logRows(int first, int count, const std::string& service) {
  std::string b;
  for (int i = first; i < first + count; ++i) {
    int64_t ts = 1764547200000000000LL + i;
    b.append(reinterpret_cast<const char*>(&ts), 8);
    putString(b, service);
    putString(b, fmt::format("line {}", i));
    b.push_back(2);
    putString(b, "k8s.pod.name");
    putString(b, fmt::format("pod-{}", i % 3));
    putString(b, "seq");
    putString(b, std::to_string(i));
  }
  return b;
}

const std::vector<std::string> kLogColumns = {"Timestamp", "ServiceName", "Body", "LogAttributes"};

std::string gzip(const std::string& data) {
  return store::compressBody(store::BodyCompression::kGzip, data, 9);
}

class ChCompatWriteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { keep_ = testing::openEmbeddedStore("default").release(); }
  static void TearDownTestSuite() { delete keep_; }

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    database_ = fmt::format("w{}_{}", counter_++, info->name());
    store_ = testing::openEmbeddedStore(database_);
    schema_.database = database_;
    schema_.krateo_events = true;
    store::schema::SchemaManager::apply(*store_, schema_);
    readonly_ = store_->openReadOnly(2, 2);
    users_file_ = (dir_.path() / "writers").string();
    std::ofstream(users_file_) << "agent:s3cret\n";
    start({});
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (writer_) writer_->stop();
  }

  void start(EndpointOptions eo, size_t max_body = 1 << 20) {
    if (server_) server_->stop();
    if (writer_) writer_->stop();
    WritePathOptions wo;
    wo.database = database_;
    wo.tables = {"otel_logs", "otel_traces", "otel_metrics_gauge", "otel_metrics_sum", "otel_metrics_histogram",
                 "otel_metrics_exponential_histogram", "otel_metrics_summary"};
    wo.users_file = users_file_;
    wo.max_body_bytes = max_body;
    wo.max_queued_bytes = 4 * max_body;
    wo.metrics = &registry_;
    endpoint_.reset();
    writer_ = std::make_unique<WritePath>(*store_, *readonly_, wo);
    writer_->start();
    eo.database = database_;
    eo.metrics = &registry_;
    eo.writer = writer_.get();
    endpoint_ = std::make_unique<ClickHouseEndpoint>(*readonly_, eo);
    http::Router router;
    endpoint_->addRoutes(router);
    http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.worker_threads = 2;
    so.body_limit = 2 * max_body;
    so.body_timeout = 30s;
    server_ = std::make_unique<http::Server>(so, std::move(router));
    server_->start();
  }

  store::HttpStoreOptions agent(store::HttpAuthMode mode = store::HttpAuthMode::kBasic) const {
    store::HttpStoreOptions o;
    o.url = fmt::format("http://127.0.0.1:{}", server_->port());
    o.user = "agent";
    o.password = "s3cret";
    o.database = database_;
    o.auth = mode;
    o.retry = {.max_retries = 0, .backoff_base = 1ms, .backoff_max = 1ms};
    return o;
  }

  store::InsertRequest logInsert(const std::string& body, uint64_t rows, std::string token) const {
    store::InsertRequest r;
    r.table = "otel_logs";
    r.columns = kLogColumns;
    r.body = body;
    r.rows = rows;
    r.deduplication_token = std::move(token);
    return r;
  }

  uint64_t rowsOf(const std::string& where = "1") {
    auto r = store_->query(fmt::format("SELECT count() FROM `{}`.otel_logs WHERE {}", database_, where), "TabSeparated");
    return std::stoull(r.data);
  }

  // A raw request to the endpoint (agent's credentials unless `auth` overrides).
  CurlResult post(const std::string& query_string, const std::string& body,
                  std::vector<std::string> headers = {"X-ClickHouse-User: agent", "X-ClickHouse-Key: s3cret"}) {
    CurlRequest req;
    req.method = "POST";
    req.body = body;
    req.headers = std::move(headers);
    return client_.fetch(fmt::format("http://127.0.0.1:{}/?{}", server_->port(), query_string), req);
  }

  static std::string enc(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.') out.push_back(char(c));
      else out += fmt::format("%{:02X}", c);
    }
    return out;
  }

  std::string insertSql(const std::string& table = "otel_logs", const std::string& format = "RowBinary") {
    return fmt::format("INSERT INTO `{}`.`{}` (`Timestamp`, `ServiceName`, `Body`, `LogAttributes`) FORMAT {}",
                       database_, table, format);
  }

  uint64_t metric(const std::string& series) {
    const std::string text = registry_.renderPrometheus();
    const auto at = text.find("\n" + series + " ");
    EXPECT_NE(at, std::string::npos) << series << "\n" << text;
    return at == std::string::npos ? 0 : std::stoull(text.substr(at + series.size() + 2));
  }

  static inline store::EmbeddedStore* keep_ = nullptr;  // keeps the engine up between tests
  static inline int counter_ = 0;
  testing::TempDir dir_;
  std::string database_;
  store::schema::SchemaOptions schema_;
  std::unique_ptr<store::EmbeddedStore> store_;
  std::unique_ptr<store::IStore> readonly_;
  std::string users_file_;
  metrics::Registry registry_;
  std::unique_ptr<WritePath> writer_;
  std::unique_ptr<ClickHouseEndpoint> endpoint_;
  std::unique_ptr<http::Server> server_;
  Client client_;
};

TEST_F(ChCompatWriteTest, TheAgentsSchemaStepAttachesAndCreatesNothing) {
  store::HttpStore agent_store(agent());
  auto schema = store::schema::SchemaManager::apply(agent_store, schema_);
  EXPECT_TRUE(schema.created.empty());
  EXPECT_TRUE(schema.altered.empty());
  EXPECT_EQ(schema.tables.size(), 8u);
  EXPECT_GT(schema.table(store::schema::TableKind::kLogs).deduplication_window, 0u);
  // The statements themselves, as a first start against an empty server sends them.
  for (const auto& sql : store::schema::buildSchema(schema_, schema.server)) EXPECT_NO_THROW(agent_store.execute(sql)) << sql;
  EXPECT_NO_THROW(agent_store.execute(fmt::format(
      "ALTER TABLE `{}`.`otel_logs` MODIFY SETTING non_replicated_deduplication_window = 1000", database_)));
  EXPECT_GE(metric("kobs_clickhouse_write_schema_statements_total"), 10u);
  // An agent with other table names is told, and creates nothing.
  auto other = schema_;
  other.table_names[store::schema::TableKind::kLogs] = "agent_logs";
  try {
    store::schema::SchemaManager::apply(agent_store, other);
    FAIL() << "a table the central store lacks must be refused";
  } catch (const Exception& e) {
    EXPECT_EQ(e.clickhouseCode(), 497) << e.what();
    EXPECT_NE(std::string(e.what()).find("agent_logs does not exist in the central kobs"), std::string::npos)
        << e.what();
  }
  auto exists = store_->query(
      fmt::format("SELECT count() FROM system.tables WHERE database = '{}' AND name = 'agent_logs'", database_),
      "TabSeparated");
  EXPECT_EQ(exists.data, "0\n");
  EXPECT_EQ(metric("kobs_clickhouse_write_refused_total{reason=\"schema\"}"), 1u);
}

TEST_F(ChCompatWriteTest, RowBinaryIntoMapColumnsOnceEvenWhenReplayed) {
  for (auto compression : {store::BodyCompression::kNone, store::BodyCompression::kGzip, store::BodyCompression::kZstd}) {
    auto o = agent(compression == store::BodyCompression::kGzip ? store::HttpAuthMode::kHeaders
                                                                : store::HttpAuthMode::kBasic);
    o.compression = compression;
    o.compress_min_bytes = 0;
    store::HttpStore agent_store(o);
    const int first = int(compression) * 100;
    const std::string body = logRows(first, 50, "agent");
    const std::string token = fmt::format("kobs-agent-{}", first);
    auto stored = agent_store.insert(logInsert(body, 50, token));
    EXPECT_EQ(stored.rows_written, 50u);
    EXPECT_FALSE(stored.deduplicated);
    // The agent's replay after a crash: same token, stored nothing.
    auto replay = logInsert(body, 50, token);
    replay.may_be_duplicate = true;
    auto again = agent_store.insert(replay);
    EXPECT_TRUE(again.deduplicated);
    EXPECT_EQ(again.rows_written, 0u);
  }
  EXPECT_EQ(rowsOf(), 150u);
  EXPECT_EQ(rowsOf("LogAttributes['seq'] = '207' AND LogAttributes['k8s.pod.name'] = 'pod-0' AND Body = 'line 207'"),
            1u);
  EXPECT_EQ(store_->query(fmt::format("SELECT uniqExact(Body) FROM `{}`.otel_logs", database_), "TabSeparated").data,
            "150\n");
  // The summary header as ClickHouse sends it: written_rows, then 0 on a replay.
  const std::string url = "database=" + database_ + "&query=" + enc(insertSql()) + "&insert_deduplication_token=raw-1";
  auto r = post(url, logRows(1000, 7, "curl"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.header("x-clickhouse-summary").find(R"("written_rows":"7")"), std::string::npos)
      << r.header("x-clickhouse-summary");
  EXPECT_FALSE(r.header("x-clickhouse-query-id").empty());
  r = post(url, logRows(1000, 7, "curl"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.header("x-clickhouse-summary").find(R"("written_rows":"0")"), std::string::npos)
      << r.header("x-clickhouse-summary");
  EXPECT_EQ(rowsOf(), 157u);
  EXPECT_EQ(metric("kobs_clickhouse_write_inserts_total{outcome=\"stored\"}"), 4u);
  EXPECT_EQ(metric("kobs_clickhouse_write_inserts_total{outcome=\"deduplicated\"}"), 4u);
  EXPECT_EQ(metric("kobs_clickhouse_write_rows_total"), 157u);
}

TEST_F(ChCompatWriteTest, WrongCredentialsGet516AndHttp401) {
  for (auto mode : {store::HttpAuthMode::kBasic, store::HttpAuthMode::kHeaders}) {
    auto o = agent(mode);
    o.password = "wrong";
    store::HttpStore agent_store(o);
    try {
      agent_store.insert(logInsert(logRows(0, 2, "x"), 2, "t"));
      FAIL() << "a wrong password must be refused";
    } catch (const Exception& e) {
      EXPECT_EQ(e.code(), ErrorCode::kStoreAuth) << e.what();
      EXPECT_EQ(e.clickhouseCode(), 516) << e.what();
    }
  }
  const std::string q = "query=" + enc(insertSql());
  for (const auto& headers : std::vector<std::vector<std::string>>{
           {}, {"Authorization: Basic YWdlbnQ6bm8="}, {"X-ClickHouse-User: nobody", "X-ClickHouse-Key: s3cret"},
           {"Authorization: Basic %%%"}}) {
    auto r = post(q, logRows(0, 1, "x"), headers);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.header("x-clickhouse-exception-code"), "516");
    EXPECT_EQ(r.body.rfind("Code: 516. DB::Exception: ", 0), 0u) << r.body;
  }
  // user/password URL parameters are ClickHouse's third way.
  EXPECT_EQ(post(q + "&user=agent&password=s3cret", logRows(0, 1, "x"), {}).status, 200);
  EXPECT_EQ(post(q + "&user=agent&password=nope", logRows(0, 1, "x"), {}).status, 401);
  EXPECT_EQ(rowsOf(), 1u);
  EXPECT_EQ(metric("kobs_clickhouse_write_refused_total{reason=\"auth\"}"), 7u);
}

TEST_F(ChCompatWriteTest, EverythingButRowBinaryIntoTheOtelTablesIsRefused) {
  struct Case {
    std::string query;  // URL query string after database=
    std::string body;
    int code;
    std::string counter;  // refusal reason counted ("" : the read side's)
  };
  const std::string rows = logRows(0, 3, "hostile");
  const std::string db = "database=" + database_;
  const std::vector<Case> cases = {
      {"query=" + enc(insertSql("otel_logs", "JSONEachRow")), R"({"Body":"x"})", 73, "format"},
      {"query=" + enc(insertSql("otel_logs", "Native")), rows, 73, "format"},
      {"query=" + enc("INSERT INTO otel_logs VALUES"), "('x')", 73, "format"},
      {"query=" + enc("INSERT INTO otel_logs SELECT * FROM otel_logs"), "", 73, "format"},
      {"", "INSERT INTO otel_logs FORMAT RowBinary\n" + rows, 73, "format"},
      {"query=" + enc(insertSql("krateo_events")), rows, 497, "table"},
      {"query=" + enc(insertSql("otel_traces_trace_id_ts")), rows, 497, "table"},
      {"query=" + enc("INSERT INTO system.query_log FORMAT RowBinary"), rows, 497, "database"},
      {"query=" + enc("INSERT INTO other.otel_logs FORMAT RowBinary"), rows, 497, "database"},
      {"query=" + enc("INSERT INTO FUNCTION file('/tmp/x', 'RowBinary') FORMAT RowBinary"), rows, 497, "statement"},
      {"query=" + enc(insertSql() + "; DROP TABLE otel_logs"), rows, 62, "syntax"},
      {"query=" + enc("INSERT INTO otel_logs SETTINGS async_insert=1 FORMAT RowBinary"), rows, 497, "statement"},
      {"query=" + enc(insertSql()) + "&max_threads=1", rows, 164, "setting"},
      {"query=" + enc(insertSql()) + "&insert_deduplication_token=x&async_insert=1", rows, 164, "setting"},
      {"", "CREATE TABLE otel_logs2 (a UInt8) ENGINE = Memory", 497, "statement"},
      {"", "CREATE TABLE IF NOT EXISTS made_up (a UInt8) ENGINE = Memory", 497, "schema"},
      {"", "CREATE TABLE IF NOT EXISTS otel_logs ON CLUSTER c (a UInt8) ENGINE = Memory", 497, "statement"},
      {"", "CREATE USER mallory", 497, "statement"},
      {"", "ALTER TABLE otel_logs DELETE WHERE 1", 497, "statement"},
      {"", "ALTER TABLE otel_logs MODIFY SETTING non_replicated_deduplication_window = 5; DROP TABLE otel_logs", 497,
       "statement"},
      {"", "ALTER TABLE otel_logs MODIFY SETTING max_parts_in_total = 1", 497, "statement"},
      {"", "DROP TABLE otel_logs", 164, ""},
      {"", "TRUNCATE TABLE otel_logs", 164, ""},
      {"", "OPTIMIZE TABLE otel_logs FINAL", 164, ""},
      {"", "SYSTEM SHUTDOWN", 164, ""},
  };
  std::map<std::string, uint64_t> expected;
  for (const auto& c : cases) {
    auto r = post(db + (c.query.empty() ? "" : "&" + c.query), c.body);
    EXPECT_EQ(r.header("x-clickhouse-exception-code"), std::to_string(c.code)) << c.query << " " << c.body << "\n"
                                                                             << r.body;
    EXPECT_EQ(r.body.rfind(fmt::format("Code: {}. DB::Exception: ", c.code), 0), 0u) << r.body;
    EXPECT_GE(r.status, 400);
    if (!c.counter.empty()) ++expected[c.counter];
  }
  for (const auto& [reason, n] : expected)
    EXPECT_EQ(metric("kobs_clickhouse_write_refused_total{reason=\"" + reason + "\"}"), n) << reason;
  EXPECT_EQ(rowsOf(), 0u);
  EXPECT_EQ(store_->query(fmt::format("SELECT count() FROM system.tables WHERE database = '{}'", database_),
                          "TabSeparated").data,
            "11\n");  // 8 OTel tables + the view, krateo_events and its view: none made, none dropped
  // A query goes to the read side as before, with the agent's credentials.
  auto q = post(db, "SELECT count() FROM otel_logs");
  EXPECT_EQ(q.status, 200) << q.body;
  EXPECT_EQ(q.body, "0\n");
}

TEST_F(ChCompatWriteTest, BodiesOverTheLimitAndBrokenCompressionAreRefused) {
  const std::string q = "query=" + enc(insertSql());
  auto big = post(q, std::string((1 << 20) + 1, 'x'));
  EXPECT_EQ(big.status, 413) << big.body;
  EXPECT_EQ(big.header("x-clickhouse-exception-code"), "131");
  // A bomb: 8 MiB of zeros in a few KiB of gzip.
  auto bomb = post(q, gzip(std::string(8 << 20, '\0')),
                   {"X-ClickHouse-User: agent", "X-ClickHouse-Key: s3cret", "Content-Encoding: gzip"});
  EXPECT_EQ(bomb.status, 413) << bomb.body;
  auto corrupt = post(q, "not gzip at all",
                      {"X-ClickHouse-User: agent", "X-ClickHouse-Key: s3cret", "Content-Encoding: gzip"});
  EXPECT_EQ(corrupt.header("x-clickhouse-exception-code"), "271") << corrupt.body;
  auto br = post(q, "x", {"X-ClickHouse-User: agent", "X-ClickHouse-Key: s3cret", "Content-Encoding: br"});
  EXPECT_EQ(br.header("x-clickhouse-exception-code"), "271") << br.body;
  // Rows that do not parse: the store's own code, nothing stored.
  auto garbage = post(q, "\x01\x02\x03");
  EXPECT_EQ(garbage.status, 500) << garbage.body;
  EXPECT_FALSE(garbage.header("x-clickhouse-exception-code").empty());
  EXPECT_EQ(metric("kobs_clickhouse_write_refused_total{reason=\"too_large\"}"), 2u);
  EXPECT_EQ(metric("kobs_clickhouse_write_refused_total{reason=\"encoding\"}"), 2u);
  EXPECT_EQ(metric("kobs_clickhouse_write_inserts_total{outcome=\"failed\"}"), 1u);
  EXPECT_EQ(rowsOf(), 0u);
}

TEST_F(ChCompatWriteTest, ASlowClientDoesNotHoldUpOtherInserts) {
  // Two clients that stall: one mid-header, one mid-body; then inserts on
  // other connections go through while they hang.
  http::testing::RawSocket header_stall(server_->port());
  header_stall.send("POST /?query=INSERT HTTP/1.1\r\nHost: x\r\n");
  http::testing::RawSocket body_stall(server_->port());
  body_stall.send(fmt::format("POST /?query={} HTTP/1.1\r\nHost: x\r\nX-ClickHouse-User: agent\r\n"
                              "X-ClickHouse-Key: s3cret\r\nContent-Length: 100000\r\n\r\nabc",
                              enc(insertSql())));
  store::HttpStore agent_store(agent());
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(agent_store.insert(logInsert(logRows(i * 10, 10, "fast"), 10, fmt::format("t{}", i))).rows_written, 10u);
  EXPECT_EQ(rowsOf(), 40u);
}

TEST_F(ChCompatWriteTest, WritersMayReadWhenTheReadSideHasItsOwnUsers) {
  const std::string readers = (dir_.path() / "readers").string();
  std::ofstream(readers) << "reader:r\n";
  EndpointOptions eo;
  eo.users_file = readers;
  start(eo);
  store::HttpStore agent_store(agent());
  EXPECT_EQ(agent_store.query("SELECT 1", "TabSeparated").data, "1\n");
  auto o = agent();
  o.user = "reader";
  o.password = "r";
  store::HttpStore reader_store(o);
  EXPECT_EQ(reader_store.query("SELECT 2", "TabSeparated").data, "2\n");
  try {
    reader_store.insert(logInsert(logRows(0, 1, "x"), 1, "t"));
    FAIL() << "a reader must not write";
  } catch (const Exception& e) {
    EXPECT_EQ(e.clickhouseCode(), 516) << e.what();
  }
  o.user = "nobody";
  store::HttpStore stranger(o);
  EXPECT_THROW(stranger.query("SELECT 3", "TabSeparated"), Exception);
}

TEST_F(ChCompatWriteTest, StatementParsing) {
  auto insert = parseWriteStatement("INSERT INTO `db`.`otel_logs` (`A`, `B c`) FORMAT RowBinary");
  ASSERT_TRUE(std::holds_alternative<WriteStatement>(insert));
  const auto& s = std::get<WriteStatement>(insert);
  EXPECT_EQ(s.database, "db");
  EXPECT_EQ(s.name, "otel_logs");
  EXPECT_EQ(s.columns, (std::vector<std::string>{"A", "B c"}));
  EXPECT_TRUE(isWriteStatement("  /* c */ insert into t format RowBinary"));
  EXPECT_TRUE(isWriteStatement("-- x\nCREATE TABLE IF NOT EXISTS t (a UInt8)"));
  EXPECT_FALSE(isWriteStatement("SELECT 1"));
  EXPECT_FALSE(isWriteStatement("DROP TABLE t"));
  auto alter = parseWriteStatement("ALTER TABLE t MODIFY SETTING non_replicated_deduplication_window = 1000");
  ASSERT_TRUE(std::holds_alternative<WriteStatement>(alter));
  EXPECT_EQ(std::get<WriteStatement>(alter).window, 1000u);
}

}  // namespace
}  // namespace kobs::serve::chcompat
