// Exactly-once across crashes: a child process running the events receiver,
// the pipeline and the embedded store is SIGKILLed at random moments 20
// times while the fake API server (standing in for kube-apiserver) produces
// 5,000 notifications (creates and count updates); each time it restarts
// from its data dir. At the end every notification (event uid,
// resourceVersion) is in otel_logs exactly once.
// The parent never opens the store: chDB's data dir belongs to one process.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "collect_test_util.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace kobs::collect {
namespace {

std::string childPath() { return (testing::binaryDir() / "tests/collect/collect_events_child").string(); }

TEST(EventsExactlyOnce, SigkilledTwentyTimesDuring5000NotificationsStoresEachOnce) {
  testing::TempDir dir;
  testing::FakeKubeApiServer server;
  server.start();

  // The producer: 1,000 creates and 4,000 count updates, spread over the kills.
  constexpr int kCreates = 1000, kTotal = 5000;
  std::mutex mu;
  std::set<std::pair<std::string, std::string>> produced;
  std::atomic<bool> producing{true};
  // Notifications before the receiver's first list are not all stored (the
  // first start stores the live list: only each event's newest version), so
  // the stream starts once the first child has checkpointed its list.
  const auto checkpoint = dir.path() / "k8s_events" / "checkpoint.json";
  std::thread producer([&] {
    while (!std::filesystem::exists(checkpoint)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::mt19937 rng(7);
    std::vector<std::string> names;
    for (int i = 0; i < kTotal; ++i) {
      nlohmann::json stored;
      if (i < 50 || (names.size() < size_t(kCreates) && rng() % 5 == 0) || names.size() + (kTotal - i) <= size_t(kCreates)) {
        std::string name = "ev." + std::to_string(names.size());
        stored = server.create("events", test::podEvent("crash", name, "pod-" + std::to_string(names.size() % 40),
                                                        "pod-uid-" + std::to_string(names.size() % 40), "BackOff",
                                                        "Warning"));
        names.push_back(name);
      } else {
        auto e = *server.get("events", "crash", names[rng() % names.size()]);
        e["count"] = e["count"].get<int>() + 1;
        e["lastTimestamp"] = test::nowRfc3339();
        stored = server.update("events", e);
      }
      {
        std::lock_guard lock(mu);
        produced.insert({stored["metadata"]["uid"].get<std::string>(), stored["metadata"]["resourceVersion"].get<std::string>()});
      }
      std::this_thread::sleep_for(std::chrono::microseconds(8000));
    }
    producing = false;
  });

  std::mt19937 rng(42);
  std::uniform_int_distribution<int> wait_ms(300, 2500);
  for (int kill = 0; kill < 20; ++kill) {
    testing::ChildProcess child({childPath(), "run", dir.str(), server.url()});
    ASSERT_EQ(child.readLine(), "started");
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
    child.kill(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(child.wait()));
  }
  producer.join();
  ASSERT_EQ(produced.size(), size_t(kTotal));

  testing::ChildProcess child({childPath(), "settle", dir.str(), server.url(), std::to_string(kTotal)});
  ASSERT_EQ(child.readLine(), "started");
  std::map<std::pair<std::string, std::string>, int> stored;
  for (std::string line = child.readLine(); !line.empty() && line != "done"; line = child.readLine()) {
    char uid[256], rv[64];
    int n = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "pair %255s %63s %d", uid, rv, &n), 3) << line;
    stored[{uid, rv}] = n;
  }
  int status = child.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

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
  EXPECT_EQ(stored.size(), size_t(kTotal));
}

}  // namespace
}  // namespace kobs::collect
