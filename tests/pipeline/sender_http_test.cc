// StoreSender over the ClickHouse HTTP store when the server reports a short
// write (X-ClickHouse-Summary written_rows below the rows sent, as a server
// that kept part of an insert split into blocks by max_insert_block_size
// answers): the sender must neither lose the rows nor store any twice. Runs
// against both backends of the store tests: a real clickhouse-server (18.16
// in CI) and a central kobs's write path over the embedded store. The
// FaultProxy in front rewrites the summary header: a real server cannot be
// made to keep part of an insert on demand.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "../store/clickhouse/store_backends.h"
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
namespace fs = std::filesystem;

using kobs::testing::waitFor;

// (a UInt32, s String, d DateTime) rows, as the backends' tables take them.
std::string encodeRows(uint32_t first, uint32_t n) {
  std::string body;
  for (uint32_t a = first; a < first + n; ++a) {
    body.append(reinterpret_cast<const char*>(&a), 4);
    const std::string s = "row-" + std::to_string(a);
    body.push_back(static_cast<char>(s.size()));
    body += s;
    const uint32_t d = 1700000000 + a;
    body.append(reinterpret_cast<const char*>(&d), 4);
  }
  return body;
}

class SenderHttpTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "central_kobs") {
      server_ = std::make_unique<store::CentralKobsBackend>();
      return;
    }
    if (testing::ClickhouseServer::binaryPath().empty())
      GTEST_SKIP() << "clickhouse-server is not installed (setup.sh installs it); set KOBS_CLICKHOUSE_SERVER";
    server_ = std::make_unique<store::ClickhouseServerBackend>();
  }
  store::HttpStoreOptions options(const std::string& url) const {
    store::HttpStoreOptions o;
    o.url = url;
    o.user = server_->user();
    o.password = server_->password();
    o.database = server_->database();
    o.request_timeout = 20s;
    o.retry = {.max_retries = 2, .backoff_base = 1ms, .backoff_max = 5ms};
    return o;
  }
  std::unique_ptr<store::StoreBackend> server_;
  testing::TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Backends, SenderHttpTest, ::testing::Values("clickhouse_server", "central_kobs"),
                         [](const auto& info) { return info.param; });

TEST_P(SenderHttpTest, ShortWriteReportedByTheServerStoresEveryRowOnce) {
  store::HttpStore direct(options(server_->url()));
  // The dedup window only where the server has it (18.16 has none).
  server_->createTable(direct, "t_short", /*dedup_window=*/GetParam() == "central_kobs");
  testing::FaultProxy proxy(server_->httpPort());
  store::HttpStore through(options(proxy.url()));
  // The server stores all 20 rows; the summary says it wrote 5.
  proxy.setResponseHeader("X-ClickHouse-Summary", R"({"read_rows":"0","written_rows":"5"})");

  DiskBufferOptions bo;
  bo.dir = dir_.path() / "buffer";
  SenderOptions so;
  so.backoff_initial = 1ms;
  so.backoff_max = 20ms;
  so.dead_letter_dir = bo.dir / "dead";
  // 18.16 knows no insert_deduplication_token: a retry of the same insert
  // would store it again (README: servers before 21.x), so that server gets
  // no retry; a current engine dedups the retries by token.
  so.short_write_retries = GetParam() == "central_kobs" ? 3 : 1;
  DiskBuffer buffer(bo);
  std::atomic<int> done{-1};
  BatchHeader h{"t_short", {"a", "s", "d"}, "RowBinary", 20, {}, {}};
  const std::string body = encodeRows(0, 20);
  for (uint32_t i = 0, off = 0; i < 20; ++i) {
    off += 4 + 1 + static_cast<uint32_t>(("row-" + std::to_string(i)).size()) + 4;
    h.row_ends.push_back(off);
    h.row_days.push_back(19675);
  }
  buffer.append(h, body, [&](bool c) { done = c; });
  StoreSender sender(through, buffer, so);
  sender.start();
  ASSERT_TRUE(waitFor([&] { return done.load() != -1; }));
  sender.stop();
  EXPECT_EQ(done.load(), 0);  // set aside whole: the store kept rows it cannot name
  EXPECT_EQ(sender.stats().parts_kept_in_part.load(), 1u);
  EXPECT_EQ(sender.stats().batches_split.load(), 0u) << "a split would store the kept rows again";
  EXPECT_EQ(direct.query("SELECT count(), uniqExact(a) FROM t_short", "TabSeparated").data, "20\t20\n")
      << "every row stored, none twice";
  EXPECT_TRUE(fs::exists(so.dead_letter_dir / "batch-1.rowbinary"));
}

}  // namespace
}  // namespace kobs::pipeline
