// kobs as the central store for node agents, as processes: an agent
// (`kobs collect`, pod logs from a directory, store.kind=clickhouse with
// credentials) writes into a central `kobs all` holding the embedded store,
// through the central's ClickHouse-compatible endpoint with its write path on.
// While a writer appends lines to the pod log, the agent and the central are
// each killed with SIGKILL several times and started again on their data
// dirs (the central on the same port, so the running agent finds it again).
// Every line must be stored in the central exactly once: the agent's disk
// buffer replays with its deduplication tokens, the central's write path
// honours them, and the pod-logs checkpoints only move once stored.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "support/child_process.h"
#include "support/free_port.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace kobs::app {
namespace {

namespace fs = std::filesystem;
namespace ht = kobs::http::testing;
using namespace std::chrono_literals;

std::string kobsBinary() { return (testing::binaryDir() / "src/app/kobs").string(); }

std::string criLine(int i) {
  auto t = std::chrono::system_clock::now();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z stdout F rec-{:06}\n", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns % 1000000000, i);
}

class CentralStore : public ::testing::Test {
 protected:
  void SetUp() override {
    central_port_ = testing::freeLoopbackPort();
    std::ofstream(dir_.path() / "writers") << "agent:s3cret\n";
    log_dir_ = dir_.path() / "pods" / "demo_web-1_0000-uid" / "app";
    fs::create_directories(log_dir_);
    fs::create_directories(dir_.path() / "central");
    fs::create_directories(dir_.path() / "agent");
  }

  std::vector<std::string> centralArgs() const {
    return {kobsBinary(), "all", "--data-dir", (dir_.path() / "central").string(),
            "--set", "log.level=warn",
            "--set", "http.listen=127.0.0.1:0",
            "--set", fmt::format("serve.clickhouse_listen=127.0.0.1:{}", central_port_),
            "--set", "serve.clickhouse_write.enabled=true",
            "--set", "serve.clickhouse_write.users_file=" + (dir_.path() / "writers").string(),
            "--set", "otlp.http_listen=", "--set", "otlp.grpc_listen=", "--set", "mcp.listen=",
            "--set", "host_metrics.enabled=false", "--set", "k8s.events.enabled=false"};
  }
  std::vector<std::string> agentArgs() const {
    return {kobsBinary(), "collect", "--data-dir", (dir_.path() / "agent").string(),
            "--set", "log.level=warn",
            "--set", "http.listen=127.0.0.1:0",
            "--set", "otlp.http_listen=", "--set", "otlp.grpc_listen=", "--set", "mcp.listen=",
            "--set", "host_metrics.enabled=false", "--set", "k8s.events.enabled=false",
            "--set", "store.kind=clickhouse",
            "--set", fmt::format("store.clickhouse.url=http://127.0.0.1:{}", central_port_),
            "--set", "store.clickhouse.user=agent", "--set", "store.clickhouse.password=s3cret",
            "--set", "store.clickhouse.auth=headers",
            "--set", "store.clickhouse.connect_timeout=1s",
            "--set", "pod_logs.enabled=true",
            "--set", "pod_logs.include=" + (dir_.path() / "pods").string() + "/*/*/*.log",
            "--set", "pod_logs.start_at=beginning", "--set", "pod_logs.metadata=false",
            "--set", "batch.max_rows=500"};
  }

  // count() and uniqExact(Body) of the lines in the central store, or nullopt
  // while it does not answer.
  std::optional<std::pair<uint64_t, uint64_t>> stored() {
    ht::CurlRequest req;
    req.timeout_ms = 5000;
    auto r = client_.fetch(
        fmt::format("http://127.0.0.1:{}/?query=SELECT%20count()%2C%20uniqExact(Body)%20FROM%20otel_logs%20WHERE%20"
                    "startsWith(Body%2C%20'rec-')",
                    central_port_),
        req);
    if (r.status != 200) return std::nullopt;
    auto tab = r.body.find('\t');
    if (tab == std::string::npos) return std::nullopt;
    return std::make_pair(std::stoull(r.body.substr(0, tab)), std::stoull(r.body.substr(tab + 1)));
  }

  testing::TempDir dir_;
  fs::path log_dir_;
  uint16_t central_port_ = 0;
  ht::Client client_;
};

TEST_F(CentralStore, AgentAndCentralKilledMidStreamEveryLineStoredOnce) {
  constexpr int kLines = 20000;
  auto central = std::make_unique<testing::ChildProcess>(centralArgs());
  auto agent = std::make_unique<testing::ChildProcess>(agentArgs());

  std::atomic<bool> writing{true};
  std::thread writer([&] {
    std::ofstream out(log_dir_ / "0.log", std::ios::app);
    for (int i = 0; i < kLines; ++i) {
      out << criLine(i);
      if (i % 100 == 99) {
        out.flush();
        std::this_thread::sleep_for(50ms);  // about 2,000 lines/s: the kills land mid-stream
      }
    }
    out.flush();
    writing = false;
  });

  // Kill each side three times, alternating, while lines flow.
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pause_ms(700, 2000);
  int kills = 0;
  for (int k = 0; k < 6; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    auto& victim = k % 2 == 0 ? agent : central;
    victim->kill(SIGKILL);
    victim->wait();
    ++kills;
    victim = std::make_unique<testing::ChildProcess>(k % 2 == 0 ? agentArgs() : centralArgs());
  }
  writer.join();
  EXPECT_EQ(kills, 6);

  // Everything arrives; then nothing more does (a late replay would be a duplicate).
  std::pair<uint64_t, uint64_t> last{0, 0};
  const auto deadline = std::chrono::steady_clock::now() + 180s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto s = stored()) {
      last = *s;
      if (last.second >= uint64_t(kLines)) break;
    }
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(last.second, uint64_t(kLines)) << "distinct lines stored (count " << last.first << ")";
  std::this_thread::sleep_for(3s);  // a replay still in flight would land now
  auto final_count = stored();
  ASSERT_TRUE(final_count.has_value());
  EXPECT_EQ(final_count->first, uint64_t(kLines)) << "lines stored more than once";
  EXPECT_EQ(final_count->second, uint64_t(kLines));

  // What the last incarnations saw (for the log; a run whose kills missed
  // every in-flight batch replays nothing, so this is not asserted).
  for (auto* child : {agent.get(), central.get()}) {
    std::string line = child->readLine();
    auto at = line.find("http://127.0.0.1:");
    if (at == std::string::npos) continue;
    auto metrics = client_.fetch(fmt::format("http://127.0.0.1:{}/metrics", std::stoi(line.substr(at + 17))));
    for (size_t pos = 0; (pos = metrics.body.find('\n', pos)) != std::string::npos; ++pos) {
      auto end = metrics.body.find('\n', pos + 1);
      auto l = metrics.body.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
      if ((l.starts_with("kobs_clickhouse_write_") || l.starts_with("kobs_records_deduplicated") || l.starts_with("kobs_sender_")) && !l.ends_with(" 0"))
        std::cout << (child == agent.get() ? "agent   " : "central ") << l << "\n";
    }
  }

  // Both still run after all that.
  EXPECT_EQ(::waitpid(agent->pid(), nullptr, WNOHANG), 0);
  EXPECT_EQ(::waitpid(central->pid(), nullptr, WNOHANG), 0);
  agent->kill(SIGTERM);
  central->kill(SIGTERM);
  int st = 0;
  st = agent->wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  st = central->wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

}  // namespace
}  // namespace kobs::app
