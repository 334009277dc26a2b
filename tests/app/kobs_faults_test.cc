// The kobs process against a hung ClickHouse: a server that accepts
// connections and never answers (SilentServer, a labelled fake). /healthz
// and /metrics keep answering within 100 ms, /readyz reports not ready, and
// SIGTERM ends the process within shutdown.timeout.
//
// The 100 ms and shutdown.timeout bounds are the issue's acceptance figures
// for these faults; they are generous for an idle loopback request.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <regex>
#include <thread>

#include "support/child_process.h"
#include "support/http_client.h"
#include "support/silent_server.h"
#include "support/temp_dir.h"

namespace kobs::app {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace ht = kobs::http::testing;

std::string kobsBinary() { return (testing::binaryDir() / "src/app/kobs").string(); }

// A kobs child process; its main listener's port read from the startup line.
struct Kobs {
  explicit Kobs(std::vector<std::string> args) : child(withBinary(std::move(args))) {
    std::regex listening(R"(listening on http://[0-9.]+:([0-9]+))");
    for (std::string line; port == 0 && !(line = child.readLine()).empty();) {
      std::smatch m;
      if (std::regex_search(line, m, listening)) port = uint16_t(std::stoi(m[1]));
    }
  }
  static std::vector<std::string> withBinary(std::vector<std::string> args) {
    args.insert(args.begin(), kobsBinary());
    return args;
  }
  std::string url(const std::string& path) const { return ht::url(port, path); }

  // SIGTERM; how long the process took to end, and its exit status.
  std::pair<Clock::duration, int> terminate() {
    const auto t0 = Clock::now();
    child.kill(SIGTERM);
    int status = child.wait();
    return {Clock::now() - t0, status};
  }

  testing::ChildProcess child;
  uint16_t port = 0;
};

struct Timed {
  ht::CurlResult result;
  Clock::duration took;
};
Timed timedFetch(const std::string& url) {
  ht::Client client;
  ht::CurlRequest r;
  r.timeout_ms = 5000;
  const auto t0 = Clock::now();
  auto result = client.fetch(url, r);
  return {std::move(result), Clock::now() - t0};
}

// Polls until `done` or `limit` passes; the condition's last value.
bool eventually(const std::function<bool()>& done, Clock::duration limit) {
  const auto until = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

// The best of a few tries must be under 100 ms: a probe blocked behind the
// hung store would take the store's whole request timeout every time, while
// one slow try on a loaded CI core is scheduler noise, not a blocked thread.
void expectQuick(const std::string& url, long status, const char* what) {
  Clock::duration best = Clock::duration::max();
  for (int attempt = 0; attempt < 5 && best >= 100ms; ++attempt) {
    auto t = timedFetch(url);
    EXPECT_EQ(t.result.status, status) << what << ": " << t.result.body;
    best = std::min(best, t.took);
  }
  EXPECT_LT(best, 100ms) << what << " took at best "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(best).count() << " ms";
}

TEST(KobsFaults, HungClickHouseAtStartLeavesProbesResponsiveAndSigtermEndsItInTime) {
  testing::SilentServer hung;
  testing::TempDir dir;
  Kobs kobs({"collect", "--data-dir", dir.str(), "--set", "http.listen=127.0.0.1:0", "--set",
             "otlp.http_listen=127.0.0.1:0", "--set", "otlp.grpc_listen=127.0.0.1:0", "--set",
             "store.kind=clickhouse", "--set", "store.clickhouse.url=" + hung.url(), "--set",
             "shutdown.timeout=3s"});
  ASSERT_GT(kobs.port, 0) << "kobs did not print its address";
  // kobs is now waiting on `SELECT version()` (or the schema) from a server
  // that never answers.
  ASSERT_TRUE(eventually([&] { return hung.accepted() > 0; }, 30s));
  expectQuick(kobs.url("/healthz"), 200, "/healthz");
  expectQuick(kobs.url("/metrics"), 200, "/metrics");
  expectQuick(kobs.url("/readyz"), 503, "/readyz");
  auto [took, status] = kobs.terminate();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_LT(took, 3s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

}  // namespace
}  // namespace kobs::app
