// ApiClient against the fake API server, only for what a real one cannot be
// made to do or show (each case says why); the rest runs against a real
// kube-apiserver in real_apiserver_test.cc.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "k8s/api_client.h"
#include "k8s/lease.h"
#include "test_util.h"

namespace kobs::k8s {
namespace {

using json = nlohmann::json;
using test::configFor;
using test::podEvent;
using test::waitFor;

std::string nameOf(std::string_view object) { return json::parse(object)["metadata"]["name"]; }

class ApiClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::FakeKubeApiServerOptions o;
    o.token = "secret";
    server_ = std::make_unique<testing::FakeKubeApiServer>(o);
    server_->start();
    api_ = std::make_unique<ApiClient>(configFor(*server_, "secret"));
  }
  std::unique_ptr<testing::FakeKubeApiServer> server_;
  std::unique_ptr<ApiClient> api_;
};

struct WatchRun {
  std::vector<std::pair<WatchEventType, std::string>> events;  // type, name or rv for bookmarks
  std::mutex mutex;
  WatchResult result;
  std::atomic<bool> done{false};
  size_t max_object_size = 0;
  std::jthread thread;

  void start(ApiClient& api, WatchOptions options, const std::string& ns = "default") {
    thread = std::jthread([this, &api, options, ns](std::stop_token stop) mutable {
      options.stop = stop;
      result = api.watch(coreEvents(), ns, options, [this](const WatchEvent& e) {
        std::lock_guard lock(mutex);
        max_object_size = std::max(max_object_size, e.object.size());
        events.emplace_back(e.type, e.type == WatchEventType::kBookmark ? std::string(e.resource_version)
                                                                        : nameOf(e.object));
      });
      done = true;
    });
  }
  size_t count() {
    std::lock_guard lock(mutex);
    return events.size();
  }
};

// Fake: sends a 410 ERROR event on an open watch on demand.
TEST_F(ApiClientTest, ErrorEventWith410MidStreamIsExpired) {
  WatchRun run;
  run.start(*api_, {});
  ASSERT_TRUE(waitFor([&] { return server_->openWatches() == 1; }));
  server_->injectErrorEvent("events", 410, "Expired", "too old resource version: 1 (2)");
  server_->create("events", podEvent("after-error"));
  ASSERT_TRUE(waitFor([&] { return run.done.load(); }));
  run.thread.join();
  EXPECT_EQ(run.result.outcome, WatchOutcome::kExpired);
  EXPECT_EQ(run.count(), 0u);
}

// Fake: writes malformed, truncated and oversize watch lines, which a real server never sends.
TEST_F(ApiClientTest, BadWatchInputIsCountedAndTheWatchGoesOn) {
  WatchRun run;
  WatchOptions o;
  o.max_line_bytes = 1 << 20;
  run.start(*api_, o);
  ASSERT_TRUE(waitFor([&] { return server_->openWatches() == 1; }));
  std::string good = json{{"type", "ADDED"}, {"object", podEvent("x")}}.dump();
  server_->injectRawLine("events", good.substr(0, good.size() / 2));  // truncated
  server_->injectRawLine("events", "<html>502 Bad Gateway</html>");   // not JSON
  server_->injectErrorEvent("events", 500, "InternalError", "etcd hiccup");
  auto unknown = podEvent("with-unknown-fields");
  unknown["someFutureField"] = {{"nested", {1, 2, 3}}};
  server_->create("events", unknown);
  auto big = podEvent("too-big");
  big["message"] = std::string(2 << 20, 'm');
  server_->create("events", big);
  server_->create("events", podEvent("after"));
  ASSERT_TRUE(waitFor([&] { return run.count() == 2; }));
  server_->endAllWatches();
  ASSERT_TRUE(waitFor([&] { return run.done.load(); }));
  run.thread.join();
  EXPECT_EQ(run.events[0].second, "with-unknown-fields");
  EXPECT_EQ(run.events[1].second, "after");
  EXPECT_EQ(run.result.outcome, WatchOutcome::kClosed);
  EXPECT_EQ(run.result.bad_lines, 2u);
  EXPECT_EQ(run.result.error_events, 1u);
  EXPECT_EQ(run.result.oversize_lines, 1u);
}

// Fake: serves a 10 MiB object; a real server refuses objects over etcd's 1.5 MiB request limit.
TEST_F(ApiClientTest, TenMegabyteObjectArrivesWhole) {
  auto big = podEvent("big");
  big["message"] = std::string(10 << 20, 'x');
  WatchRun run;
  run.start(*api_, {});
  ASSERT_TRUE(waitFor([&] { return server_->openWatches() == 1; }));
  server_->create("events", big);
  ASSERT_TRUE(waitFor([&] { return run.count() == 1; }, std::chrono::seconds(30)));
  EXPECT_EQ(run.events[0].second, "big");
  EXPECT_GT(run.max_object_size, size_t(10 << 20));
  auto listed = api_->list(coreEvents(), "default");
  ASSERT_EQ(listed.items.size(), 1u);
  EXPECT_EQ(json::parse(listed.items[0])["message"].get<std::string>().size(), size_t(10 << 20));
}

// Fake: counts the discovery requests it receives, and adds a resource type on demand.
TEST_F(ApiClientTest, DiscoverySkipsSubresourcesAndRefreshesOnMiss) {
  for (const auto& r : api_->discovery().resources("v1")) EXPECT_EQ(r.ref.resource.find('/'), std::string::npos);
  auto pods = api_->discovery().resolve("v1", "Pod");
  ASSERT_TRUE(pods);
  EXPECT_EQ(pods->ref.resource, "pods");
  EXPECT_TRUE(pods->namespaced);
  auto ns = api_->discovery().resolve("v1", "Namespace");
  ASSERT_TRUE(ns);
  EXPECT_FALSE(ns->namespaced);

  // Default client: a miss within refresh_min_interval does not refetch.
  ASSERT_TRUE(api_->discovery().resolve("composition.krateo.io/v1-2-0", "FireworksApp"));
  server_->addResourceType({"composition.krateo.io", "v1-2-0", "postgresqls", "Postgresql", true});
  uint64_t fetches = api_->discovery().fetches();
  EXPECT_FALSE(api_->discovery().resolve("composition.krateo.io/v1-2-0", "Postgresql"));
  EXPECT_EQ(api_->discovery().fetches(), fetches);
  EXPECT_FALSE(api_->discovery().resolve("composition.krateo.io/v1-2-0", "Postgresql"));

  // With no minimum interval a miss refetches the group version (a new CRD).
  ApiClient eager(configFor(*server_, "secret"), {}, DiscoveryOptions{std::chrono::milliseconds(0)});
  ASSERT_TRUE(eager.discovery().resolve("composition.krateo.io/v1-2-0", "FireworksApp"));
  server_->addResourceType({"composition.krateo.io", "v1-2-0", "redises", "Redis", true});
  uint64_t before = eager.discovery().fetches();
  auto redis = eager.discovery().resolve("composition.krateo.io/v1-2-0", "Redis");
  ASSERT_TRUE(redis);
  EXPECT_EQ(redis->ref.resource, "redises");
  EXPECT_EQ(eager.discovery().fetches(), before + 1);
  // Hits do not fetch.
  eager.discovery().resolve("composition.krateo.io/v1-2-0", "Redis");
  EXPECT_EQ(eager.discovery().fetches(), before + 1);
}

TEST(ApiClientTransport, UnreachableServerIsUnavailable) {
  ClusterConfig c;
  c.server = "http://127.0.0.1:1";
  ApiClient api(c);
  try {
    api.list(coreEvents(), "");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kApiUnavailable);
    EXPECT_TRUE(isRetryable(e.code()));
  }
  auto w = api.watch(coreEvents(), "", {}, [](const WatchEvent&) {});
  EXPECT_EQ(w.outcome, WatchOutcome::kFailed);
}

}  // namespace
}  // namespace kobs::k8s
