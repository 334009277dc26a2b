// `kobs all --demo` (the kobs binary as a process) fills the metric tables
// with host metrics under the hostmetrics receiver's names, read back through
// its ClickHouse-compatible endpoint.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

#include "support/child_process.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace kobs::collect::host_metrics {
namespace {

using namespace std::chrono_literals;
namespace ht = kobs::http::testing;

// A loopback port free right now: the ClickHouse-compatible endpoint's port
// must be known before kobs prints its listeners.
uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string query(uint16_t port, const std::string& sql) {
  ht::Client client;
  ht::CurlRequest r;
  r.method = "POST";
  r.body = sql + " FORMAT TSV";
  r.timeout_ms = 30000;
  auto res = client.fetch("http://127.0.0.1:" + std::to_string(port) + "/", r);
  return res.status == 200 ? res.body : "";
}

TEST(KobsDemo, FillsTheMetricTablesWithHostMetrics) {
  kobs::testing::TempDir dir;
  const uint16_t ch = freePort();
  kobs::testing::ChildProcess kobs({(kobs::testing::binaryDir() / "src/app/kobs").string(), "all", "--demo",
                                    "--data-dir", dir.str(), "--set", "http.listen=127.0.0.1:0", "--set",
                                    "otlp.http_listen=", "--set", "otlp.grpc_listen=", "--set", "mcp.listen=",
                                    "--set", "serve.clickhouse_listen=127.0.0.1:" + std::to_string(ch), "--set",
                                    "host_metrics.interval=1s", "--set", "host_metrics.start_jitter=false"});
  const std::string sum =
      "SELECT uniqExact(MetricName) FROM otel_metrics_sum WHERE MetricName LIKE 'system.%' "
      "AND ResourceAttributes['os.type'] = 'linux' AND ResourceAttributes['host.name'] != ''";
  std::string got;
  const auto until = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < until) {
    got = query(ch, sum);
    // cpu, memory, disk (7), filesystem (2), network (5), processes (2), paging (2 or 3): at least 18.
    if (!got.empty() && std::stoi(got) >= 18) break;
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_FALSE(got.empty()) << "the ClickHouse-compatible endpoint never answered";
  EXPECT_GE(std::stoi(got), 18);
  auto gauges = query(ch, "SELECT uniqExact(MetricName) FROM otel_metrics_gauge WHERE MetricName LIKE 'system.cpu.load_average.%'");
  EXPECT_EQ(gauges, "3\n");
  auto cpu = query(ch, "SELECT IsMonotonic, AggregationTemporality, MetricUnit FROM otel_metrics_sum "
                        "WHERE MetricName = 'system.cpu.time' LIMIT 1");
  EXPECT_EQ(cpu, "true\t2\ts\n");
  kobs.kill(SIGTERM);
  const int status = kobs.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace kobs::collect::host_metrics
