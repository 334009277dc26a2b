// The write path against a ClickHouse server that answers each retryable
// error code, then recovers: nothing is dead-lettered, nothing lost, nothing
// stored twice. The server is the real clickhouse-server the store tests
// start; the FaultProxy in front of it answers chosen requests with a
// ClickHouse exception (a real server cannot be made to run out of memory or
// lose Keeper on demand).
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "pipeline/disk_buffer.h"
#include "pipeline/store_sender.h"
#include "store/clickhouse/http_store.h"
#include "support/clickhouse_server.h"
#include "support/fault_proxy.h"
#include "support/temp_dir.h"
#include "support/wait_for.h"

namespace kobs::pipeline {
namespace {

using namespace std::chrono_literals;

using kobs::testing::waitFor;

struct CodeCase {
  const char* name;
  int code;
  const char* message;
  int http_status = 500;
  bool loud = false;  // a person should look (auth, grants, missing table)
};

class StoreFaultTest : public ::testing::TestWithParam<CodeCase> {
 protected:
  static void SetUpTestSuite() {
    if (testing::ClickhouseServer::binaryPath().empty()) return;
    server_ = new testing::ClickhouseServer();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (server_ == nullptr)
      GTEST_SKIP() << "clickhouse-server is not installed (setup.sh installs it); set KOBS_CLICKHOUSE_SERVER";
  }
  store::HttpStoreOptions options(const std::string& url) const {
    store::HttpStoreOptions o;
    o.url = url;
    o.user = server_->user();
    o.password = server_->password();
    o.request_timeout = 20s;
    o.retry = {.max_retries = 2, .backoff_base = 1ms, .backoff_max = 5ms};
    return o;
  }
  static inline testing::ClickhouseServer* server_ = nullptr;
};

TEST_P(StoreFaultTest, RetryableCodeIsRetriedUntilTheServerRecovers) {
  const CodeCase& c = GetParam();
  const std::string table = std::string("t_code_") + c.name;
  store::HttpStore direct(options(server_->url()));
  direct.execute("CREATE TABLE " + table + " (d Date, v UInt32) ENGINE = MergeTree PARTITION BY d ORDER BY v");
  testing::FaultProxy proxy(server_->httpPort());
  store::HttpStore through(options(proxy.url()));

  testing::TempDir dir;
  DiskBuffer buffer({.dir = dir.path() / "buffer", .fsync = FsyncPolicy::kNever});
  SenderOptions so{.backoff_initial = 1ms, .backoff_max = 10ms, .dead_letter_dir = dir.path() / "buffer/dead"};
  // More faults than the store's own retries: the sender has to retry too.
  constexpr int kFaults = 8;
  proxy.failWithClickhouseCode(c.code, c.message, kFaults, c.http_status);
  int acked = 0;
  for (uint32_t b = 0; b < 3; ++b) {
    BatchHeader h{table, {"d", "v"}, "RowBinary", 100, {}, {}};
    std::string body;
    for (uint32_t i = 0; i < 100; ++i) {
      uint16_t day = 20000;
      uint32_t v = b * 100 + i;
      body.append(reinterpret_cast<const char*>(&day), 2);
      body.append(reinterpret_cast<const char*>(&v), 4);
    }
    buffer.append(h, body, [&acked](bool ok) { acked += ok; });
  }
  StoreSender sender(through, buffer, so);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return buffer.pendingBatches() == 0; })) << "the sender never recovered";
  sender.stop();
  EXPECT_EQ(proxy.faultsInjected(), uint64_t(kFaults));
  EXPECT_EQ(acked, 3);
  EXPECT_EQ(sender.stats().batches_dead_lettered.load(), 0u);
  EXPECT_EQ(sender.stats().failures_permanent.load(), 0u);
  EXPECT_GE(c.loud ? sender.stats().failures_retry_loud.load() : sender.stats().failures_retry.load(), 1u);
  EXPECT_EQ(direct.query("SELECT count(), uniqExact(v) FROM " + table, "TabSeparated").data, "300\t300\n");
  EXPECT_FALSE(std::filesystem::exists(so.dead_letter_dir));
}

INSTANTIATE_TEST_SUITE_P(
    ClickhouseCodes, StoreFaultTest,
    ::testing::Values(
        CodeCase{"memory_limit", 241, "Memory limit (total) exceeded: would use 9.31 GiB. (MEMORY_LIMIT_EXCEEDED)"},
        CodeCase{"timeout_exceeded", 159, "Timeout exceeded: elapsed 30.1 seconds. (TIMEOUT_EXCEEDED)"},
        CodeCase{"socket_timeout", 209, "Timeout exceeded while reading from socket. (SOCKET_TIMEOUT)"},
        CodeCase{"too_many_parts", 252, "Too many parts (300). Merges are processing significantly slower than "
                                         "inserts. (TOO_MANY_PARTS)"},
        CodeCase{"table_read_only", 242, "Table is in readonly mode (replica path: /clickhouse/tables/1/t). "
                                         "(TABLE_IS_READ_ONLY)"},
        CodeCase{"keeper", 999, "Coordination::Exception: Connection loss. (KEEPER_EXCEPTION)"},
        CodeCase{"no_zookeeper", 225, "Cannot use ZooKeeper table engine without ZooKeeper. (NO_ZOOKEEPER)"},
        CodeCase{"too_few_replicas", 285, "Number of alive replicas (1) is less than requested quorum (2). "
                                          "(TOO_FEW_LIVE_REPLICAS)"},
        CodeCase{"unknown_insert_status", 319, "Unknown status, client must retry. (UNKNOWN_STATUS_OF_INSERT)"},
        CodeCase{"auth_after_rotation", 516, "default: Authentication failed: password is incorrect. "
                                             "(AUTHENTICATION_FAILED)", 401, true},
        CodeCase{"access_denied", 497, "default: Not enough privileges. (ACCESS_DENIED)", 403, true},
        CodeCase{"missing_table", 60, "Table default.otel_logs does not exist. (UNKNOWN_TABLE)", 404, true}),
    [](const ::testing::TestParamInfo<CodeCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kobs::pipeline
