// ListWatcher against the fake API server, only for what a real one cannot be
// made to do on demand (each case says why); the rest runs against a real
// kube-apiserver in real_apiserver_test.cc.
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

// Fake: history moves on and is compacted while the server is unreachable (a real one cannot take writes then).
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

// Fake: sends a 410 ERROR event on an open watch on demand.
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

// Fake: writes malformed and truncated watch lines, which a real server never sends.
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
  // ...and the watcher watches again (waited for: stopping first would race it).
  ASSERT_TRUE(waitFor([&] { return lw.stats().bad_lines.load() == 2 && lw.stats().watches.load() == 2; }));
  lw.stop();
  EXPECT_EQ(lw.stats().error_events.load(), 1u);
  EXPECT_EQ(lw.stats().watches.load(), 2u);
  EXPECT_EQ(rec.deliveries, std::vector<std::string>{"ADDED after-garbage"});
}

// Fake: unreachable at first, then up within milliseconds (a real one takes ~3 s to start).
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
