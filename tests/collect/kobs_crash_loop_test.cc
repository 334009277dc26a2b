// The kobs binary in a crash loop, as a new user would try it: `kobs all`
// on the embedded store with its default batch and checkpoint timing,
// watching a real kube-apiserver (tests/support/real_apiserver) through
// --kubeconfig, SIGKILLed 0.5 to 1.5 s after
// each start, 15 times, while 40 live events get 750 more notifications (30%
// count updates), some of them while kobs is down. A last `kobs all` runs
// undisturbed; every notification (event uid, resourceVersion) must then be
// in otel_logs exactly once, read through kobs's own ClickHouse-compatible
// endpoint. (exactly_once_test.cc runs the same check at 10x the volume on
// the receiver and pipeline alone.)
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "collect_test_util.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/real_apiserver.h"
#include "support/temp_dir.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::collect {
namespace {

using namespace std::chrono_literals;
using Pair = std::pair<std::string, std::string>;  // (event uid, resourceVersion)
namespace ht = kobs::http::testing;

std::string kobsBinary() { return (testing::binaryDir() / "src/app/kobs").string(); }

Pair pairOf(const nlohmann::json& e) {
  return {e["metadata"]["uid"].get<std::string>(), e["metadata"]["resourceVersion"].get<std::string>()};
}

// `kobs all` on `data`, its ClickHouse-compatible port read from stdout.
struct Kobs {
  Kobs(const std::filesystem::path& data, const std::filesystem::path& kubeconfig, const std::string& ns)
      : child({kobsBinary(), "all", "--data-dir", data.string(), "--set", "http.listen=127.0.0.1:0", "--set",
               "serve.clickhouse_listen=127.0.0.1:0", "--kubeconfig", kubeconfig.string(), "--set",
               "k8s.events.namespaces=" + ns, "--set", "otlp.http_listen=", "--set", "otlp.grpc_listen=", "--set",
               "mcp.listen=", "--set", "log.level=warn"}) {
    std::regex ch(R"(ClickHouse-compatible endpoint on http://[0-9.]+:([0-9]+))");
    for (std::string line; ch_port == 0 && !(line = child.readLine()).empty();) {
      std::smatch m;
      if (std::regex_search(line, m, ch)) ch_port = uint16_t(std::stoi(m[1]));
    }
  }
  std::string query(const std::string& sql) {
    ht::Client client;
    std::string escaped;
    for (char c : sql) escaped += (std::isalnum(static_cast<unsigned char>(c)) ? std::string(1, c) : fmt::format("%{:02X}", static_cast<unsigned>(static_cast<unsigned char>(c))));
    auto r = client.fetch(ht::url(ch_port, "/?query=" + escaped));
    if (r.status != 200) throw std::runtime_error("query failed (" + std::to_string(r.status) + "): " + r.body);
    return r.body;
  }
  testing::ChildProcess child;
  uint16_t ch_port = 0;
};

TEST(KobsCrashLoop, SigkilledKobsAllStoresEveryNotificationOnce) {
  testing::TempDir dir;
  auto& kube = testing::RealApiServerEnvironment::server();
  const std::string ns = kube.createNamespace("loop");
  const auto kubeconfig = kube.kubeconfig();
  const auto data = dir.path() / "data";
  constexpr int kKills = 15, kTotal = 750, kLive = 40;

  std::vector<nlohmann::json> pods;
  for (int i = 0; i < 4; ++i) pods.push_back(kube.createPod(ns, "pod-" + std::to_string(i)));
  std::set<Pair> produced;
  std::vector<nlohmann::json> events;  // the newest version of each (this test is their only writer)
  auto create = [&] {
    std::string name = "ev." + std::to_string(events.size());
    events.push_back(kube.createEvent(ns, name, pods[events.size() % pods.size()], "BackOff",
                                      "Back-off restarting " + name, "Warning"));
    return events.back();
  };
  for (int i = 0; i < kLive; ++i) produced.insert(pairOf(create()));

  std::mt19937 rng(11);
  std::uniform_int_distribution<int> wait_ms(500, 1500);
  std::jthread producer;  // stopped and joined if an assertion ends the test early
  std::atomic<int> kills_done{0};
  for (int kill = 0; kill < kKills; ++kill) {
    Kobs kobs(data, kubeconfig, ns);
    ASSERT_GT(kobs.ch_port, 0) << "kobs did not print its endpoints";
    if (kill == 0) {
      // Once kobs has listed what is live, the notifications start, spread
      // over the runs (a share per run, the next one released by each kill).
      ASSERT_TRUE(test::waitFor([&] {
        try {
          return kobs.query("SELECT count() FROM otel_logs") == std::to_string(kLive) + "\n";
        } catch (const std::exception&) {
          return false;
        }
      }, 60s));
      producer = std::jthread([&](std::stop_token st) {
        std::mt19937 prng(5);
        for (int i = 0; i < kTotal && !st.stop_requested(); ++i) {
          while (i >= (kills_done + 1) * (kTotal / kKills) && kills_done < kKills - 1 && !st.stop_requested())
            std::this_thread::sleep_for(5ms);
          nlohmann::json stored;
          if (prng() % 10 < 7) {
            stored = create();
          } else {
            auto& e = events[prng() % events.size()];
            e["count"] = e["count"].get<int>() + 1;
            e["lastTimestamp"] = test::nowRfc3339();
            e = kube.update("/api/v1/namespaces/" + ns + "/events/" + e["metadata"]["name"].get<std::string>(), e);
            stored = e;
          }
          produced.insert(pairOf(stored));
          std::this_thread::sleep_for(10ms);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
    kobs.child.kill(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(kobs.child.wait()));
    ++kills_done;
  }
  producer.join();
  ASSERT_EQ(produced.size(), size_t(kLive + kTotal));

  Kobs kobs(data, kubeconfig, ns);
  ASSERT_GT(kobs.ch_port, 0);
  const std::string pairs_sql =
      "SELECT LogAttributes['k8s.event.uid'] AS u, JSONExtractString(Body,'object','metadata','resourceVersion') AS rv, "
      "count() AS n FROM otel_logs GROUP BY u, rv FORMAT TabSeparated";
  auto distinct = [&] {
    try {
      return std::stoul(kobs.query("SELECT count() FROM (" + pairs_sql.substr(0, pairs_sql.find(" FORMAT")) + ")"));
    } catch (const std::exception&) {
      return 0ul;
    }
  };
  EXPECT_TRUE(test::waitFor([&] { return distinct() >= produced.size(); }, 90s));
  std::this_thread::sleep_for(1s);  // a duplicate would land now
  std::map<Pair, int> stored;
  std::istringstream lines(kobs.query(pairs_sql));
  for (std::string u, rv, n; lines >> u >> rv >> n;) stored[{u, rv}] = std::stoi(n);
  kobs.child.kill(SIGTERM);
  int status = kobs.child.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  size_t missing = 0, duplicated = 0, extra = 0;
  for (const auto& p : produced) {
    auto it = stored.find(p);
    if (it == stored.end()) ++missing;
    else if (it->second != 1) ++duplicated;
  }
  for (const auto& [p, n] : stored) extra += produced.count(p) == 0;
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_EQ(extra, 0u);
}

}  // namespace
}  // namespace kobs::collect
