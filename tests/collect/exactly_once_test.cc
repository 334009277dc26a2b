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
#include "support/temp_dir.h"

namespace kobs::collect {
namespace {

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
};

Child spawn(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(fds[1]);
  return {pid, ::fdopen(fds[0], "r")};
}

std::string childPath() { return (testing::binaryDir() / "tests/collect/collect_events_child").string(); }

std::string readLine(FILE* f) {
  char buf[4096];
  if (!std::fgets(buf, sizeof buf, f)) return {};
  std::string s(buf);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

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
    auto child = spawn({childPath(), "run", dir.str(), server.url()});
    ASSERT_EQ(readLine(child.out), "started");
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
    ::kill(child.pid, SIGKILL);
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    std::fclose(child.out);
    ASSERT_TRUE(WIFSIGNALED(status));
  }
  producer.join();
  ASSERT_EQ(produced.size(), size_t(kTotal));

  auto child = spawn({childPath(), "settle", dir.str(), server.url(), std::to_string(kTotal)});
  ASSERT_EQ(readLine(child.out), "started");
  std::map<std::pair<std::string, std::string>, int> stored;
  for (std::string line = readLine(child.out); !line.empty() && line != "done"; line = readLine(child.out)) {
    char uid[256], rv[64];
    int n = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "pair %255s %63s %d", uid, rv, &n), 3) << line;
    stored[{uid, rv}] = n;
  }
  int status = 0;
  ::waitpid(child.pid, &status, 0);
  std::fclose(child.out);
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
