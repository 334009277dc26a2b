// `kobs top` against a running `kobs all --demo` fed OTLP logs by the test:
// `--once` prints the sections with non-zero rates, and the live view,
// driven in tmux (new-session, capture-pane, send-keys), draws its screen in
// 80x24 and quits on q and on Ctrl-C.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <regex>
#include <sstream>
#include <thread>

#include "support/child_process.h"
#include "support/free_port.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace kobs::app {
namespace {

using namespace std::chrono_literals;
namespace ht = kobs::http::testing;

std::string kobsBinary() { return (testing::binaryDir() / "src/app/kobs").string(); }

// Runs a shell command; its stdout and exit status.
std::pair<std::string, int> run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return {"", -1};
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = ::pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

bool eventually(const std::function<bool()>& done, std::chrono::seconds limit = 60s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

// One `kobs all --demo` for the binary, with a thread posting OTLP/JSON logs
// to it so every rate has something to count.
class KobsTopTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir;
    otlp_port_ = testing::freeLoopbackPort();
    kobs_ = new testing::ChildProcess(
        {kobsBinary(), "all", "--demo", "--data-dir", dir_->str(), "--set", "http.listen=127.0.0.1:0", "--set",
         "serve.clickhouse_listen=", "--set", "otlp.grpc_listen=", "--set",
         "otlp.http_listen=127.0.0.1:" + std::to_string(otlp_port_), "--set", "batch.max_age=100ms", "--set",
         "mcp.listen="});
    std::regex listening(R"(listening on (http://[0-9.]+:[0-9]+))");
    for (std::string line; url_.empty() && !(line = kobs_->readLine()).empty();) {
      std::smatch m;
      if (std::regex_search(line, m, listening)) url_ = m[1];
    }
    feeder_ = new std::thread([] {
      ht::Client client;
      ht::CurlRequest r;
      r.method = "POST";
      r.headers = {"Content-Type: application/json"};
      r.body = R"({"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"top-test"}}]},)"
               R"("scopeLogs":[{"logRecords":[{"body":{"stringValue":"hello"}},{"body":{"stringValue":"again"}}]}]}]})";
      while (!stop_feeder_) {
        client.fetch("http://127.0.0.1:" + std::to_string(otlp_port_) + "/v1/logs", r);
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  static void TearDownTestSuite() {
    stop_feeder_ = true;
    feeder_->join();
    delete feeder_;
    kobs_->kill(SIGTERM);
    kobs_->wait();
    delete kobs_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_FALSE(url_.empty()) << "kobs did not print its address";
    ht::Client c;
    ASSERT_TRUE(eventually([&] { return c.fetch(url_ + "/readyz").status == 200; }));
  }

  static inline testing::TempDir* dir_ = nullptr;
  static inline testing::ChildProcess* kobs_ = nullptr;
  static inline std::thread* feeder_ = nullptr;
  static inline std::atomic<bool> stop_feeder_{false};
  static inline uint16_t otlp_port_ = 0;
  static inline std::string url_;
};

// The number in the `column`th cell of the row that starts with `name`.
double cell(const std::string& table, const std::string& name, size_t column) {
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<std::string> cells;
    for (std::string w; words >> w;) cells.push_back(w);
    // Row names may have a space ("otlp logs"): match on the line's start.
    if (line.rfind("   " + name + " ", 0) != 0) continue;
    const size_t name_words = std::count(name.begin(), name.end(), ' ') + 1;
    if (cells.size() <= name_words + column - 1) return -1;
    std::string v = cells[name_words + column - 1];
    double scale = v.ends_with("k") ? 1e3 : v.ends_with("M") ? 1e6 : 1;
    return std::stod(v) * scale;
  }
  return -1;
}

TEST_F(KobsTopTest, OncePrintsEverySectionWithLiveRates) {
  std::string out;
  // Rates over 2 s while the feeder posts 100 records/s; the store's rows out
  // may lag behind one batch, so a quiet interval there is tried again.
  ASSERT_TRUE(eventually([&] {
    int status;
    std::tie(out, status) = run(kobsBinary() + " top --once --interval-ms 2000 --url " + url_);
    return status == 0 && cell(out, "rows out/s", 1) > 0;
  }, 90s)) << out;
  for (const char* section : {"-- Pipeline", "-- Sources", "-- Disk buffer", "-- Store", "-- Clients"})
    EXPECT_NE(out.find(section), std::string::npos) << section << "\n" << out;
  EXPECT_GT(cell(out, "otel_logs", 1), 0) << out;  // in/s
  EXPECT_GT(cell(out, "otlp logs", 1), 0) << out;
  EXPECT_GT(cell(out, "otlp logs", 2), 0) << out;  // stored/s
  EXPECT_GT(cell(out, "inserts/s", 1), 0) << out;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 80u) << line;
}

TEST_F(KobsTopTest, OnceAgainstNothingSaysSoAndFails) {
  auto [out, status] = run(kobsBinary() + " top --once --url http://127.0.0.1:" +
                           std::to_string(testing::freeLoopbackPort()) + " 2>&1");
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find("cannot read"), std::string::npos) << out;
}

// The live view in a real terminal: tmux with its own server socket.
TEST_F(KobsTopTest, LiveViewDrawsIn80x24AndQuitsOnQAndCtrlC) {
  if (run("command -v tmux").second != 0) GTEST_SKIP() << "tmux is not installed (scripts/setup.sh installs it)";
  const std::string tmux = "tmux -L kobs-top-" + std::to_string(::getpid());
  for (const char* quit_key : {"q", "C-c"}) {
    SCOPED_TRACE(quit_key);
    ASSERT_EQ(run(tmux + " new-session -d -s top -x 80 -y 24 '" + kobsBinary() + " top --url " + url_ + "'").second, 0);
    std::string screen;
    // Two refreshes: the second has rates ("rates over").
    EXPECT_TRUE(eventually([&] {
      screen = run(tmux + " capture-pane -p -t top").first;
      return screen.find("rates over") != std::string::npos && screen.find("-- Pipeline") != std::string::npos;
    }, 30s)) << screen;
    EXPECT_NE(screen.find("kobs top  " + url_), std::string::npos) << screen;
    EXPECT_NE(screen.find("q quit"), std::string::npos) << screen;
    std::istringstream lines(screen);
    size_t n = 0;
    for (std::string line; std::getline(lines, line); ++n) EXPECT_LE(line.size(), 80u);
    EXPECT_LE(n, 24u);
    run(tmux + " send-keys -t top " + quit_key);
    EXPECT_TRUE(eventually([&] { return run(tmux + " has-session -t top 2>/dev/null").second != 0; }, 10s))
        << "kobs top still running after " << quit_key;
  }
  run(tmux + " kill-server 2>/dev/null");
}

}  // namespace
}  // namespace kobs::app
