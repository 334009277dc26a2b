// The disk-buffer replay's progress lines, read from a real replay at start:
// a node agent (`kobs collect`, pod logs, store.kind=clickhouse) writes into a
// central `kobs all` (embedded store, :8123 write path on) through a
// FaultProxy. The proxy hangs every request, so the agent's batches pile up
// in its disk buffer; the agent is killed with SIGKILL, the proxy let through
// again and the agent restarted on its data dir: it replays the pile. The
// central is paused (SIGSTOP) for longer than the progress interval (5 s)
// as soon as the replay starts, as an overloaded central would be, so the
// replay outlasts one interval and logs a percent line with an ETA, then the
// closing "done, N batches" line, N being the batches it found at start.
// Every line written must be stored once.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "support/child_process.h"
#include "support/fault_proxy.h"
#include "support/free_port.h"
#include "support/http_client.h"
#include "support/temp_dir.h"
#include "support/progress_lines.h"

namespace kobs::app {
namespace {

namespace fs = std::filesystem;
namespace ht = kobs::http::testing;
using namespace std::chrono_literals;

std::string kobsBinary() { return (testing::binaryDir() / "src/app/kobs").string(); }

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string tail(const std::string& s, size_t n = 4000) { return s.size() > n ? s.substr(s.size() - n) : s; }

bool waitFor(const std::function<bool()>& pred, std::chrono::seconds timeout = 180s,
             std::chrono::milliseconds poll = 200ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(poll);
  }
  return pred();
}

std::string criLine(int i) {
  auto t = std::chrono::system_clock::now();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z stdout F rec-{:06}\n", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns % 1000000000, i);
}

// A kobs process whose log (stderr) goes to a file; its main listener's port from stdout.
struct Kobs {
  Kobs(const std::vector<std::string>& args, const fs::path& log) {
    std::string cmd = "exec";
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " 2>>'" + log.string() + "'";
    child = std::make_unique<testing::ChildProcess>(std::vector<std::string>{"/bin/sh", "-c", cmd});
    std::regex listening(R"(kobs listening on http://[0-9.]+:([0-9]+))");
    for (std::string line; port == 0 && !(line = child->readLine()).empty();) {
      std::smatch m;
      if (std::regex_search(line, m, listening)) port = uint16_t(std::stoi(m[1]));
    }
  }
  std::unique_ptr<testing::ChildProcess> child;
  uint16_t port = 0;
};

class ReplayProgress : public ::testing::Test {
 protected:
  void SetUp() override {
    central_port_ = testing::freeLoopbackPort();
    std::ofstream(dir_.path() / "writers") << "agent:s3cret\n";
    log_dir_ = dir_.path() / "pods" / "demo_web-1_0000-uid" / "app";
    fs::create_directories(log_dir_);
  }

  std::vector<std::string> centralArgs() const {
    return {kobsBinary(), "all", "--data-dir", (dir_.path() / "central").string(),
            "--set", "log.level=warn",
            "--set", "http.listen=127.0.0.1:0",
            "--set", fmt::format("serve.clickhouse_listen=127.0.0.1:{}", central_port_),
            "--set", "serve.clickhouse_write.enabled=true",
            "--set", "serve.clickhouse_write.users_file=" + (dir_.path() / "writers").string(),
            "--set", "otlp.http_listen=", "--set", "otlp.grpc_listen=", "--set", "mcp.listen=",
            "--set", "presenter.listen=",
            "--set", "host_metrics.enabled=false", "--set", "k8s.events.enabled=false"};
  }
  std::vector<std::string> agentArgs(uint16_t store_port) const {
    return {kobsBinary(), "collect", "--data-dir", (dir_.path() / "agent").string(),
            "--set", "log.level=info",
            "--set", "http.listen=127.0.0.1:0",
            "--set", "otlp.http_listen=", "--set", "otlp.grpc_listen=", "--set", "mcp.listen=",
            "--set", "host_metrics.enabled=false", "--set", "k8s.events.enabled=false",
            "--set", "store.kind=clickhouse",
            "--set", fmt::format("store.clickhouse.url=http://127.0.0.1:{}", store_port),
            "--set", "store.clickhouse.user=agent", "--set", "store.clickhouse.password=s3cret",
            "--set", "store.clickhouse.auth=headers",
            "--set", "store.clickhouse.connect_timeout=1s",
            "--set", "pod_logs.enabled=true",
            "--set", "pod_logs.include=" + (dir_.path() / "pods").string() + "/*/*/*.log",
            "--set", "pod_logs.start_at=beginning", "--set", "pod_logs.metadata=false",
            "--set", "batch.max_rows=50"};
  }

  // In pieces of 50 lines a little apart: the tailer adds what one read finds
  // as one batch, so the pieces make many batches.
  void writeLines(int from, int to) {
    std::ofstream out(log_dir_ / "0.log", std::ios::app);
    for (int i = from; i < to; ++i) {
      out << criLine(i);
      if (i % 50 == 49) {
        out.flush();
        std::this_thread::sleep_for(50ms);
      }
    }
    out.flush();
  }

  // count() and uniqExact(Body) of the lines in the central store (nullopt while it does not answer).
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

  // The non-zero kobs_ samples (failure messages).
  std::string metricsText(uint16_t port) {
    auto body = client_.fetch(fmt::format("http://127.0.0.1:{}/metrics", port)).body;
    std::istringstream in(body);
    std::string out;
    for (std::string l; std::getline(in, l);)
      if (l.starts_with("kobs_") && !l.ends_with(" 0")) out += l + "\n";
    return out;
  }

  double metric(uint16_t port, const std::string& name) {
    ht::CurlRequest req;
    req.timeout_ms = 5000;
    auto text = "\n" + client_.fetch(fmt::format("http://127.0.0.1:{}/metrics", port), req).body;
    auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
  }

  testing::TempDir dir_;
  fs::path log_dir_;
  uint16_t central_port_ = 0;
  ht::Client client_;
};

TEST_F(ReplayProgress, AReplayAtStartLogsPercentEtaAndDoneAndStoresEveryLineOnce) {
  constexpr int kFirst = 300, kTotal = 3300;
  Kobs central(centralArgs(), dir_.path() / "central.log");
  ASSERT_NE(central.port, 0);
  testing::FaultProxy proxy(central_port_);
  const auto agent_log = dir_.path() / "agent.log";
  auto agent = std::make_unique<Kobs>(agentArgs(proxy.port()), agent_log);
  ASSERT_NE(agent->port, 0);

  // The path works: the first lines arrive.
  writeLines(0, kFirst);
  ASSERT_TRUE(waitFor([&] {
    auto s = stored();
    return s && s->second == uint64_t(kFirst);
  })) << readFile(agent_log);

  // The proxy hangs every request: the rest piles up in the agent's disk buffer.
  proxy.hang(1000000);
  writeLines(kFirst, kTotal);
  // Some pieces may be read together; many batches are enough.
  const double piled = 10;
  ASSERT_TRUE(waitFor([&] {
    return metric(agent->port, "kobs_pod_logs_lines_read_total") == kTotal &&
           metric(agent->port, "kobs_buffer_pending_batches") >= piled;
  }, 60s))
      << "pending batches " << metric(agent->port, "kobs_buffer_pending_batches") << "\n"
      << tail(readFile(agent_log)) << "\n" << metricsText(agent->port);
  ASSERT_LT(stored()->second, uint64_t(kTotal));
  agent->child->kill(SIGKILL);
  agent->child->wait();
  agent.reset();

  // Released; the agent restarts and replays its buffer. The central pauses
  // as soon as the replay begins, for longer than one progress interval.
  proxy.passThrough();
  const auto replay_log = dir_.path() / "agent-restarted.log";
  agent = std::make_unique<Kobs>(agentArgs(proxy.port()), replay_log);
  ASSERT_NE(agent->port, 0);
  std::regex found(R"(replaying ([0-9]+) batches \([0-9]+ bytes\) not yet committed to the store)");
  std::smatch m;
  std::string text;
  ASSERT_TRUE(waitFor([&] { return std::regex_search(text = readFile(replay_log), m, found); }, 180s, 10ms))
      << text;
  ::kill(central.child->pid(), SIGSTOP);
  std::this_thread::sleep_for(7s);  // the pause itself: the progress interval is 5 s
  ::kill(central.child->pid(), SIGCONT);
  const uint64_t batches = std::stoull(m[1]);
  EXPECT_GE(double(batches), piled);

  const std::string what = "replaying the disk buffer into the store: ";
  ASSERT_TRUE(waitFor([&] { return readFile(replay_log).find(what + "done, ") != std::string::npos; }))
      << readFile(replay_log);
  text = readFile(replay_log);
  // At least one line with percent, count of the total and an ETA, at most every 5 s.
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find("replaying") != std::string::npos) std::cout << line << "\n";  // for the test's log
    lines.push_back(line);
  }
  const auto seen = kobs::testing::checkProgressLines(lines, "replaying the disk buffer into the store", batches, "batches");
  EXPECT_GE(seen.percent_lines, 1) << text;
  EXPECT_TRUE(seen.done) << text;

  // Every line stored, once.
  ASSERT_TRUE(waitFor([&] {
    auto s = stored();
    return s && s->second == uint64_t(kTotal);
  })) << "distinct lines " << (stored() ? stored()->second : 0);
  ASSERT_TRUE(waitFor([&] { return metric(agent->port, "kobs_buffer_pending_batches") == 0; }));
  auto s = stored();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->first, uint64_t(kTotal)) << "lines stored more than once";

  agent->child->kill(SIGTERM);
  int st = agent->child->wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  central.child->kill(SIGTERM);
  st = central.child->wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

}  // namespace
}  // namespace kobs::app
