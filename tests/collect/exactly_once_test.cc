// Exactly-once across a crash loop: a child process running the events
// receiver, the pipeline and the embedded store is SIGKILLed 30 times, 0.3 to
// 1.5 s after each start (a pod in CrashLoopBackOff, most runs dying before
// any checkpoint write), while 10,000 notifications arrive: 70% new events,
// 30% count updates of earlier ones, some of them while no child runs. Each
// child restarts from the same data dir. At the end every notification
// (event uid, resourceVersion) is in otel_logs exactly once: no run may fall
// back to a list (which carries only each event's newest version) unless the
// server answered 410.
// The API server is a real etcd + kube-apiserver
// (tests/support/real_apiserver); the test watches its own namespace.
// The parent never opens the store: chDB's data dir belongs to one process.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "collect_test_util.h"
#include "support/child_process.h"
#include "support/real_apiserver.h"
#include "support/temp_dir.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::collect {
namespace {

std::string childPath() { return (testing::binaryDir() / "tests/collect/collect_events_child").string(); }

using Pair = std::pair<std::string, std::string>;  // (event uid, resourceVersion)

Pair pairOf(const nlohmann::json& e) {
  return {e["metadata"]["uid"].get<std::string>(), e["metadata"]["resourceVersion"].get<std::string>()};
}

TEST(EventsExactlyOnce, CrashLoopOfThirtySigkillsDuring10000NotificationsStoresEachOnce) {
  testing::TempDir dir;
  auto& kube = testing::RealApiServerEnvironment::server();
  const std::string ns = kube.createNamespace("crash");
  const std::string kubeconfig = kube.kubeconfig().string();
  constexpr int kKills = 30, kTotal = 10000, kLive = 40;

  std::vector<nlohmann::json> pods;
  for (int i = 0; i < 4; ++i) pods.push_back(kube.createPod(ns, "pod-" + std::to_string(i)));
  std::set<Pair> produced;
  // For a failure's message: when each pair was produced (the run it fell in).
  std::map<Pair, std::string> origin;
  std::vector<nlohmann::json> events;  // the newest version of each (this test is their only writer)
  auto create = [&] {
    std::string name = "ev." + std::to_string(events.size());
    events.push_back(kube.createEvent(ns, name, pods[events.size() % pods.size()], "BackOff",
                                      "Back-off restarting " + name, "Warning"));
    return events.back();
  };
  // Live before kobs first starts: its first list stores them.
  for (int i = 0; i < kLive; ++i) {
    produced.insert(pairOf(create()));
    origin[pairOf(events.back())] = "live before the first start";
  }

  // The producer spends an equal share of the notifications in each run's
  // window (kill i opens share i+1), so notifications arrive while a child
  // starts, runs, dies and is restarted.
  std::mutex mu;
  std::condition_variable cv;
  int kills_done = 0;
  bool go = false;
  std::thread producer([&] {
    std::mt19937 rng(7);
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return go; });
    }
    for (int i = 0; i < kTotal; ++i) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return i < (kills_done + 1) * (kTotal / kKills) || kills_done >= kKills - 1; });
      }
      nlohmann::json stored;
      int run_at = 0;
      {
        std::lock_guard lock(mu);
        run_at = kills_done;
      }
      if (rng() % 10 < 7) {
        stored = create();
      } else {
        auto& e = events[rng() % events.size()];
        e["count"] = e["count"].get<int>() + 1;
        e["lastTimestamp"] = test::nowRfc3339();
        e = kube.update("/api/v1/namespaces/" + ns + "/events/" + e["metadata"]["name"].get<std::string>(), e);
        stored = e;
      }
      produced.insert(pairOf(stored));
      origin[pairOf(stored)] = fmt::format("notification {} ({} of {}), produced during run {}", i,
                                           stored["count"].get<int>() > 1 ? "update" : "new event",
                                           stored["metadata"]["name"].get<std::string>(), run_at);
    }
  });

  std::mt19937 rng(42);
  std::uniform_int_distribution<int> wait_ms(300, 1500);
  for (int kill = 0; kill < kKills; ++kill) {
    testing::ChildProcess child({childPath(), "run", dir.str(), kubeconfig, ns});
    ASSERT_EQ(child.readLine(), "started");
    if (kill == 0) {
      // The first start lists what is live; the stream begins once it has.
      ASSERT_EQ(child.readLine(), "listed");
      std::lock_guard lock(mu);
      go = true;
      cv.notify_all();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
    child.kill(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(child.wait()));
    std::lock_guard lock(mu);
    ++kills_done;
    cv.notify_all();
  }
  producer.join();
  ASSERT_EQ(produced.size(), size_t(kLive + kTotal));

  testing::ChildProcess child({childPath(), "settle", dir.str(), kubeconfig, ns, std::to_string(produced.size())});
  ASSERT_EQ(child.readLine(), "started");
  std::map<Pair, int> stored;
  std::string line;
  for (line = child.readLine(); !line.empty() && line != "done"; line = child.readLine()) {
    if (line == "listed") continue;
    char uid[256], rv[64];
    int n = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "pair %255s %63s %d", uid, rv, &n), 3) << line;
    stored[{uid, rv}] = n;
  }
  EXPECT_EQ(line, "done");
  int status = child.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  size_t missing = 0, duplicated = 0, extra = 0;
  for (const auto& p : produced) {
    auto it = stored.find(p);
    if (it == stored.end()) {
      if (++missing <= 20) ADD_FAILURE() << "never stored: " << p.first << " rv " << p.second << ": " << origin[p];
    } else if (it->second != 1) {
      if (++duplicated <= 20)
        ADD_FAILURE() << "stored " << it->second << " times: " << p.first << " rv " << p.second << ": " << origin[p];
    }
  }
  for (const auto& [p, n] : stored) extra += produced.count(p) == 0;
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_EQ(extra, 0u);
  EXPECT_EQ(stored.size(), produced.size());
}

}  // namespace
}  // namespace kobs::collect
