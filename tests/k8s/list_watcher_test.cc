#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "k8s/list_watcher.h"
#include "test_util.h"

namespace kobs::k8s {
namespace {

using json = nlohmann::json;
using test::configFor;
using test::podEvent;
using test::waitFor;

// Records what a ListWatcher delivers, as a consumer of events would.
struct Recorder {
  std::mutex mutex;
  std::vector<std::pair<ListReason, size_t>> lists;  // reason, item count
  std::map<std::string, int> added;                  // name → ADDED deliveries
  std::vector<std::string> deliveries;               // "TYPE name"
  std::vector<std::string> bookmarks;
  std::set<std::string> listed_names;

  ListWatcherHandlers handlers() {
    ListWatcherHandlers h;
    h.on_list = [this](std::vector<std::string>& items, const std::string&, ListReason reason) {
      std::lock_guard lock(mutex);
      lists.emplace_back(reason, items.size());
      for (const auto& i : items) listed_names.insert(json::parse(i)["metadata"]["name"].get<std::string>());
    };
    h.on_event = [this](WatchEventType type, std::string_view object, std::string_view) {
      std::string name = json::parse(object)["metadata"]["name"];
      std::lock_guard lock(mutex);
      if (type == WatchEventType::kAdded) ++added[name];
      deliveries.push_back(std::string(watchEventTypeName(type)) + " " + name);
    };
    h.on_bookmark = [this](std::string_view rv) {
      std::lock_guard lock(mutex);
      bookmarks.emplace_back(rv);
    };
    return h;
  }
  size_t deliveryCount() {
    std::lock_guard lock(mutex);
    return deliveries.size();
  }
  size_t listCount() {
    std::lock_guard lock(mutex);
    return lists.size();
  }
};

class ListWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.start();
    api_ = std::make_unique<ApiClient>(configFor(server_));
  }
  ListWatcherOptions options() {
    ListWatcherOptions o;
    o.resource = coreEvents();
    o.page_size = 4;
    o.backoff_initial = std::chrono::milliseconds(20);
    o.backoff_max = std::chrono::milliseconds(200);
    return o;
  }
  testing::FakeKubeApiServer server_;
  std::unique_ptr<ApiClient> api_;
};

TEST_F(ListWatcherTest, ListsPagedThenWatchesFromTheListVersion) {
  for (int i = 0; i < 10; ++i) server_.create("events", podEvent(fmt::format("pre-{}", i)));
  Recorder rec;
  ListWatcher lw(*api_, options(), rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 1 && server_.openWatches() == 1; }));
  server_.create("events", podEvent("live-1"));
  server_.sendBookmark();
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() == 1 && lw.stats().bookmarks.load() == 1; }));
  lw.stop();
  EXPECT_EQ(rec.lists[0], std::make_pair(ListReason::kInitial, size_t(10)));
  EXPECT_EQ(rec.deliveries, std::vector<std::string>{"ADDED live-1"});
  EXPECT_EQ(rec.bookmarks, std::vector<std::string>{std::to_string(server_.resourceVersion())});
  EXPECT_EQ(lw.resourceVersion(), std::to_string(server_.resourceVersion()));
  EXPECT_EQ(lw.stats().lists.load(), 1u);
  EXPECT_EQ(lw.stats().relists.load(), 0u);
  EXPECT_EQ(lw.stats().api_calls.load(), 3u + 1u);  // 3 pages, 1 watch
}

TEST_F(ListWatcherTest, ResumesFromAVersionWithoutListing) {
  for (int i = 0; i < 3; ++i) server_.create("events", podEvent(fmt::format("stored-{}", i)));
  std::string rv = std::to_string(server_.resourceVersion());
  server_.create("events", podEvent("missed-while-down"));
  auto o = options();
  o.resume_resource_version = rv;
  Recorder rec;
  ListWatcher lw(*api_, o, rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() == 1; }));
  lw.stop();
  EXPECT_EQ(rec.listCount(), 0u);
  EXPECT_EQ(rec.deliveries, std::vector<std::string>{"ADDED missed-while-down"});
}

TEST_F(ListWatcherTest, TooOldResumeVersionRelistsAndSaysSo) {
  server_.create("events", podEvent("a"));
  std::string rv = std::to_string(server_.resourceVersion());
  server_.create("events", podEvent("b"));
  server_.compact();
  auto o = options();
  o.resume_resource_version = rv;
  Recorder rec;
  ListWatcher lw(*api_, o, rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 1; }));
  server_.create("events", podEvent("c"));
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() == 1; }));
  lw.stop();
  EXPECT_EQ(rec.lists[0], std::make_pair(ListReason::kResumeExpired, size_t(2)));
  EXPECT_EQ(lw.stats().relists.load(), 1u);
  EXPECT_EQ(rec.deliveries, std::vector<std::string>{"ADDED c"});
}

TEST_F(ListWatcherTest, GoneWhileDisconnectedRelists) {
  Recorder rec;
  ListWatcher lw(*api_, options(), rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 1 && server_.openWatches() == 1; }));
  server_.create("events", podEvent("seen"));
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() == 1; }));
  server_.stop();
  // While the watcher cannot connect, history moves on and is compacted.
  for (int i = 0; i < 5; ++i) server_.create("events", podEvent(fmt::format("during-{}", i)));
  server_.compact();
  server_.start();
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 2; }));
  lw.stop();
  EXPECT_EQ(rec.lists[1], std::make_pair(ListReason::kExpired, size_t(6)));
  EXPECT_EQ(rec.listed_names.count("during-4"), 1u);
  EXPECT_EQ(lw.stats().relists.load(), 1u);
  EXPECT_GE(lw.stats().errors.load(), 1u);
}

TEST_F(ListWatcherTest, ErrorEvent410MidStreamRelists) {
  Recorder rec;
  ListWatcher lw(*api_, options(), rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 1 && server_.openWatches() == 1; }));
  server_.injectErrorEvent("events", 410, "Expired", "too old resource version: 1 (5)");
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 2; }));
  lw.stop();
  EXPECT_EQ(rec.lists[1].first, ListReason::kExpired);
}

TEST_F(ListWatcherTest, BadLinesAreCountedWithoutRestartingTheWatch) {
  Recorder rec;
  ListWatcher lw(*api_, options(), rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return server_.openWatches() == 1; }));
  server_.injectRawLine("events", R"({"type":"ADDED","object":{"metadata":{"name":)");
  server_.injectRawLine("events", "garbage");
  server_.injectErrorEvent("events", 500, "InternalError", "transient");
  server_.create("events", podEvent("after-garbage"));
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() == 1; }));
  server_.endAllWatches();  // the per-watch counts are added when a watch ends
  ASSERT_TRUE(waitFor([&] { return lw.stats().bad_lines.load() == 2; }));
  lw.stop();
  EXPECT_EQ(lw.stats().error_events.load(), 1u);
  EXPECT_EQ(lw.stats().watches.load(), 2u);
  EXPECT_EQ(rec.deliveries, std::vector<std::string>{"ADDED after-garbage"});
}

TEST_F(ListWatcherTest, ServerRestartMidStreamLosesAndRepeatsNothing) {
  Recorder rec;
  ListWatcher lw(*api_, options(), rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return server_.openWatches() == 1; }));
  constexpr int kEvents = 600;
  std::thread producer([&] {
    for (int i = 0; i < kEvents; ++i) {
      auto e = podEvent(fmt::format("ev-{:04}", i));
      server_.create("events", e);
      if (i % 3 == 0) {  // count updates, as kubelet does for repeated events
        e["count"] = 2;
        server_.update("events", e);
      }
      if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  server_.restart(/*keep_state=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  server_.restart(/*keep_state=*/true);
  producer.join();
  const size_t expected = kEvents + (kEvents + 2) / 3;
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() >= expected; }, std::chrono::seconds(20)))
      << rec.deliveryCount() << " of " << expected;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  lw.stop();
  EXPECT_EQ(rec.deliveryCount(), expected);
  EXPECT_EQ(rec.added.size(), size_t(kEvents));
  for (const auto& [name, n] : rec.added) EXPECT_EQ(n, 1) << name;
  EXPECT_EQ(lw.stats().relists.load(), 0u);
  EXPECT_GE(lw.stats().watch_restarts.load(), 1u);
  EXPECT_EQ(lw.resourceVersion(), std::to_string(server_.resourceVersion()));
}

TEST_F(ListWatcherTest, FailingHandlerRewatchesFromTheLastAcceptedVersion) {
  Recorder rec;
  auto handlers = rec.handlers();
  std::atomic<int> failures{1};
  auto inner = handlers.on_event;
  handlers.on_event = [&](WatchEventType t, std::string_view o, std::string_view rv) {
    if (json::parse(o)["metadata"]["name"] == "second" && failures.fetch_sub(1) > 0)
      throw std::runtime_error("store unavailable");
    inner(t, o, rv);
  };
  ListWatcher lw(*api_, options(), handlers);
  lw.start();
  ASSERT_TRUE(waitFor([&] { return server_.openWatches() == 1; }));
  server_.create("events", podEvent("first"));
  server_.create("events", podEvent("second"));
  server_.create("events", podEvent("third"));
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() == 3; }));
  lw.stop();
  EXPECT_EQ(rec.deliveries, (std::vector<std::string>{"ADDED first", "ADDED second", "ADDED third"}));
  EXPECT_EQ(lw.stats().errors.load(), 1u);
}

TEST_F(ListWatcherTest, StopIsPromptAndIdempotent) {
  Recorder rec;
  ListWatcher lw(*api_, options(), rec.handlers());
  lw.stop();  // before start
  lw.start();
  lw.start();
  ASSERT_TRUE(waitFor([&] { return server_.openWatches() == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  lw.stop();
  lw.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
}

TEST_F(ListWatcherTest, RetriesWithBackoffWhileTheServerIsDown) {
  server_.stop();
  Recorder rec;
  ListWatcher lw(*api_, options(), rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return lw.stats().errors.load() >= 3; }));
  server_.start();
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 1; }));
  lw.stop();
  EXPECT_EQ(rec.lists[0].first, ListReason::kInitial);
}

}  // namespace
}  // namespace kobs::k8s
