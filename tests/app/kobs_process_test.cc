// The kobs binary as a user runs it: configuration errors, `schema print`,
// `kobs all` becoming ready on the embedded store, and SIGTERM.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <thread>

#include "support/http_client.h"
#include "support/temp_dir.h"

namespace kobs::app {
namespace {

using namespace std::chrono_literals;
namespace ht = kobs::http::testing;

std::string kobsBinary() { return (testing::binaryDir() / "src/app/kobs").string(); }

struct Run {
  int exit_code = -1;
  std::string out, err;
};

// Runs kobs to completion with a timeout.
Run runKobs(const std::vector<std::string>& args, std::chrono::seconds timeout = 60s) {
  testing::TempDir io;
  std::string out = (io.path() / "out").string(), err = (io.path() / "err").string();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::freopen(out.c_str(), "w", stdout);
    ::freopen(err.c_str(), "w", stderr);
    std::vector<char*> argv{const_cast<char*>(kobsBinary().c_str())};
    std::string bin = kobsBinary();
    argv[0] = bin.data();
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  Run r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream o(out), e(err);
  r.out.assign(std::istreambuf_iterator<char>(o), {});
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  return r;
}

// `kobs <args>` running, its stdout read until it prints the HTTP address.
struct RunningKobs {
  pid_t pid = -1;
  FILE* out = nullptr;
  int port = 0;
  // SIGTERM, then the exit status.
  int stop() {
    ::kill(pid, SIGTERM);
    int st = 0;
    ::waitpid(pid, &st, 0);
    std::fclose(out);
    return st;
  }
};

RunningKobs startKobs(const std::vector<std::string>& args) {
  int out_pipe[2];
  if (::pipe(out_pipe) != 0) return {};
  std::string bin = kobsBinary();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::close(out_pipe[0]);
    std::vector<std::string> full{bin};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    _exit(127);
  }
  ::close(out_pipe[1]);
  RunningKobs k{pid, ::fdopen(out_pipe[0], "r"), 0};
  char line[512];
  std::regex listening(R"(listening on http://[0-9.]+:([0-9]+))");
  while (k.port == 0 && std::fgets(line, sizeof line, k.out)) {
    std::cmatch m;
    if (std::regex_search(line, m, listening)) k.port = std::stoi(m[1]);
  }
  return k;
}

TEST(KobsProcess, UnknownConfigKeyExitsNonZeroNamingIt) {
  testing::TempDir dir;
  auto cfg = dir.path() / "kobs.yaml";
  std::ofstream(cfg) << "store:\n  kind: embedded\n  databse: logs\n";
  auto r = runKobs({"all", "--config", cfg.string(), "--data-dir", dir.str()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown key store.databse"), std::string::npos) << r.err;
}

TEST(KobsProcess, BadValueExitsNonZeroNamingTheKey) {
  testing::TempDir dir;
  auto cfg = dir.path() / "kobs.yaml";
  std::ofstream(cfg) << "batch:\n  max_age: soon\n";
  auto r = runKobs({"all", "--config", cfg.string(), "--data-dir", dir.str()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("batch.max_age"), std::string::npos) << r.err;
  auto r2 = runKobs({"all", "--set", "store.kind=postgres", "--data-dir", dir.str()});
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_NE(r2.err.find("store.kind"), std::string::npos) << r2.err;
}

TEST(KobsProcess, BadEnvironmentValueNamesTheVariable) {
  testing::TempDir dir;
  ::setenv("KOBS_BUFFER_FSYNC", "sometimes", 1);
  auto r = runKobs({"all", "--data-dir", dir.str()});
  ::unsetenv("KOBS_BUFFER_FSYNC");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("KOBS_BUFFER_FSYNC"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("buffer.fsync"), std::string::npos) << r.err;
}

TEST(KobsProcess, SchemaPrintShowsEveryTable) {
  auto r = runKobs({"schema", "print"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* t : {"otel_logs", "otel_traces", "otel_traces_trace_id_ts", "otel_traces_trace_id_ts_mv",
                        "otel_metrics_gauge", "otel_metrics_sum", "otel_metrics_histogram",
                        "otel_metrics_exponential_histogram", "otel_metrics_summary"})
    EXPECT_NE(r.out.find(std::string("`") + t + "`"), std::string::npos) << t;
  auto exporter = runKobs({"schema", "print", "--set", "schema.variant=exporter"});
  EXPECT_NE(exporter.out.find("TimestampTime"), std::string::npos);
}

TEST(KobsProcess, HelpDocumentsRolesAndKeys) {
  auto r = runKobs({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* s : {"all", "collect", "serve", "schema", "store.kind", "buffer.fsync", "CLICKHOUSE_URL"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

TEST(KobsProcess, AllBecomesReadyOnTheEmbeddedStoreAndStopsOnSigterm) {
  testing::TempDir dir;
  auto kobs = startKobs({"all", "--data-dir", dir.str(), "--set", "http.listen=127.0.0.1:0", "--set",
                         "otlp.http_listen=127.0.0.1:0", "--set", "otlp.grpc_listen=127.0.0.1:0", "--set",
                         "mcp.listen=127.0.0.1:0"});
  const int port = kobs.port;
  ASSERT_GT(port, 0) << "kobs did not print its address";
  ht::Client client;
  long status = 0;
  for (int i = 0; i < 300 && status != 200; ++i) {
    status = client.fetch(ht::url(uint16_t(port), "/readyz")).status;
    if (status != 200) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, 200);
  EXPECT_EQ(client.fetch(ht::url(uint16_t(port), "/healthz")).body, "ok");
  auto metrics = client.fetch(ht::url(uint16_t(port), "/metrics"));
  EXPECT_NE(metrics.body.find("kobs_buffer_pending_bytes 0"), std::string::npos);
  EXPECT_NE(metrics.body.find("kobs_store_insert_duration_seconds_bucket"), std::string::npos);
  // The schema is in the embedded store under the data dir.
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "clickhouse"));

  auto stop_started = std::chrono::steady_clock::now();
  const int st = kobs.stop();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, 10s);
}

}  // namespace
}  // namespace kobs::app

namespace kobs::app {
namespace {

// kobs all publishes Kubernetes events to the streams when their batch is
// durable in the disk buffer, ahead of the store (serve.publish_when_durable).
// The feed starts before the pipeline that turns this on; a feed whose local
// thread only started when local publishing was on at its start never
// published a batch that way, and every event waited for its insert and the
// next tail query (the durable path was counted as taken, and was not).
TEST(KobsProcess, AllPublishesEventsWhenDurableAheadOfTheStore) {
  testing::TempDir dir;
  auto kobs = startKobs({"all", "--demo", "--data-dir", dir.str(), "--set", "http.listen=127.0.0.1:0", "--set",
                         "otlp.http_listen=", "--set", "otlp.grpc_listen=", "--set", "mcp.listen=", "--set",
                         "serve.clickhouse_listen="});
  const int port = kobs.port;
  ASSERT_GT(port, 0) << "kobs did not print its address";
  auto counter = [&](const std::string& name) {
    ht::Client client;
    const std::string body = client.fetch(ht::url(uint16_t(port), "/metrics")).body;
    std::smatch m;
    return std::regex_search(body, m, std::regex("\n" + name + " ([0-9.e+]+)")) ? std::stod(m[1]) : -1.0;
  };
  // The demo's events: some of them must go out ahead of the store.
  double local = 0;
  for (int i = 0; i < 600 && local <= 0; ++i) {
    local = counter("kobs_events_feed_published_local_total");
    if (local <= 0) std::this_thread::sleep_for(100ms);
  }
  EXPECT_GT(local, 0) << "published " << counter("kobs_events_feed_published_total") << ", none when durable";
  const int st = kobs.stop();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

// A listener that cannot bind after the store, the feed and the first
// receivers started: kobs stops those parts in order and exits 1 naming the
// address. Before, their threads outlived the Process and the exit corrupted
// the heap (abort in malloc_consolidate).
TEST(KobsProcess, APortInUseAfterTheStoreStartedEndsTheStartCleanly) {
  int busy = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(busy, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(busy, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(busy, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  testing::TempDir dir;
  auto r = runKobs({"all", "--data-dir", dir.str(), "--set", "http.listen=127.0.0.1:0", "--set",
                    "serve.clickhouse_listen=", "--set", "mcp.listen=", "--set", "otlp.grpc_listen=", "--set",
                    "otlp.http_listen=" + taken});
  ::close(busy);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(taken), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stopping what had started"), std::string::npos) << r.err;
}

TEST(KobsProcess, ReadmeConfigurationReferenceIsCurrent) {
  auto r = runKobs({"config-reference"});
  ASSERT_EQ(r.exit_code, 0);
  std::ifstream in(testing::sourceDir() / "README.md");
  std::string readme((std::istreambuf_iterator<char>(in)), {});
  auto begin = readme.find("<!-- config-reference:begin");
  auto end = readme.find("<!-- config-reference:end");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  begin = readme.find('\n', begin) + 1;
  EXPECT_EQ(readme.substr(begin, end - begin), r.out)
      << "README.md's configuration reference is stale: paste `kobs config-reference` between its markers";
}

}  // namespace
}  // namespace kobs::app
