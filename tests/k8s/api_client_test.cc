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

TEST_F(ApiClientTest, ListPagesAreOneSnapshot) {
  for (int i = 0; i < 25; ++i) server_->create("events", podEvent(fmt::format("ev-{:02}", i)));
  server_->create("events", podEvent("other-ns", "kube-system"));
  ListOptions o;
  o.limit = 10;
  ListResult p1 = api_->list(coreEvents(), "default", o);
  EXPECT_EQ(p1.items.size(), 10u);
  EXPECT_FALSE(p1.continue_token.empty());
  EXPECT_EQ(p1.remaining_item_count, 15);
  EXPECT_EQ(p1.resource_version, std::to_string(server_->resourceVersion()));
  // Changes after the first page do not show in the next pages.
  server_->create("events", podEvent("ev-99"));
  o.continue_token = p1.continue_token;
  ListResult p2 = api_->list(coreEvents(), "default", o);
  EXPECT_EQ(p2.items.size(), 10u);
  EXPECT_EQ(p2.resource_version, p1.resource_version);
  o.continue_token = p2.continue_token;
  ListResult p3 = api_->list(coreEvents(), "default", o);
  EXPECT_EQ(p3.items.size(), 5u);
  EXPECT_TRUE(p3.continue_token.empty());
  EXPECT_EQ(nameOf(p3.items.back()), "ev-24");

  ListResult all = api_->listAll(coreEvents(), "", {}, 7);
  EXPECT_EQ(all.items.size(), 27u);
  EXPECT_EQ(all.resource_version, std::to_string(server_->resourceVersion()));
  std::set<std::string> names;
  for (const auto& item : all.items) names.insert(nameOf(item));
  EXPECT_EQ(names.size(), 27u);
  EXPECT_GE(server_->listRequests(), 3u + 4u);
}

TEST_F(ApiClientTest, ExpiredContinueTokenIsGone) {
  for (int i = 0; i < 5; ++i) server_->create("events", podEvent(fmt::format("ev-{}", i)));
  ListOptions o;
  o.limit = 2;
  auto p1 = api_->list(coreEvents(), "default", o);
  server_->create("events", podEvent("later"));
  server_->compact();
  o.continue_token = p1.continue_token;
  try {
    api_->list(coreEvents(), "default", o);
    FAIL() << "expected 410";
  } catch (const ApiError& e) {
    EXPECT_TRUE(e.isGone()) << e.what();
    EXPECT_EQ(e.httpStatus(), 410);
  }
}

TEST_F(ApiClientTest, LabelSelectorFilters) {
  auto a = podEvent("a");
  a["metadata"]["labels"] = {{"krateo.io/composition-id", "c1"}};
  server_->create("events", a);
  server_->create("events", podEvent("b"));
  ListOptions o;
  o.label_selector = "krateo.io/composition-id=c1";
  auto r = api_->list(coreEvents(), "", o);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(nameOf(r.items[0]), "a");
}

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

TEST_F(ApiClientTest, WatchFromVersionReplaysFollowsAndBookmarks) {
  for (int i = 0; i < 3; ++i) server_->create("events", podEvent(fmt::format("old-{}", i)));
  std::string rv = std::to_string(server_->resourceVersion());
  server_->create("events", podEvent("after-1"));
  auto modified = podEvent("after-1");
  modified["count"] = 2;
  server_->update("events", modified);

  WatchRun run;
  WatchOptions o;
  o.resource_version = rv;
  run.start(*api_, o);
  ASSERT_TRUE(waitFor([&] { return run.count() == 2; }));
  server_->create("events", podEvent("live"));
  server_->remove("events", "default", "old-0");
  ASSERT_TRUE(waitFor([&] { return run.count() == 4; }));
  server_->sendBookmark();
  ASSERT_TRUE(waitFor([&] { return run.count() == 5; }));
  auto t0 = std::chrono::steady_clock::now();
  run.thread.request_stop();
  run.thread.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  EXPECT_EQ(run.result.outcome, WatchOutcome::kStopped);
  std::vector<std::pair<WatchEventType, std::string>> expected = {
      {WatchEventType::kAdded, "after-1"},
      {WatchEventType::kModified, "after-1"},
      {WatchEventType::kAdded, "live"},
      {WatchEventType::kDeleted, "old-0"},
      {WatchEventType::kBookmark, std::to_string(server_->resourceVersion())}};
  EXPECT_EQ(run.events, expected);
  EXPECT_EQ(run.result.last_resource_version, std::to_string(server_->resourceVersion()));
  EXPECT_EQ(run.result.events, 4u);
  EXPECT_EQ(run.result.bookmarks, 1u);
}

TEST_F(ApiClientTest, WatchWithoutVersionStartsWithSyntheticAdds) {
  server_->create("events", podEvent("existing"));
  WatchRun run;
  run.start(*api_, {});
  ASSERT_TRUE(waitFor([&] { return run.count() == 1; }));
  EXPECT_EQ(run.events[0].first, WatchEventType::kAdded);
  server_->endAllWatches();
  ASSERT_TRUE(waitFor([&] { return run.done.load(); }));
  run.thread.join();
  EXPECT_EQ(run.result.outcome, WatchOutcome::kClosed);
}

TEST_F(ApiClientTest, WatchFromCompactedVersionIsExpired) {
  server_->create("events", podEvent("a"));
  std::string old_rv = std::to_string(server_->resourceVersion());
  server_->create("events", podEvent("b"));
  server_->compact();
  WatchOptions o;
  o.resource_version = old_rv;
  o.stop = {};
  auto r = api_->watch(coreEvents(), "default", o, [](const WatchEvent&) { FAIL() << "no event expected"; });
  EXPECT_EQ(r.outcome, WatchOutcome::kExpired);
  EXPECT_NE(r.error.find("too old resource version"), std::string::npos) << r.error;
}

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

TEST_F(ApiClientTest, WatchTimeouts) {
  WatchOptions o;
  o.timeout_seconds = 1;  // server ends it
  auto t0 = std::chrono::steady_clock::now();
  auto r = api_->watch(coreEvents(), "default", o, [](const WatchEvent&) {});
  EXPECT_EQ(r.outcome, WatchOutcome::kClosed);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  o.timeout_seconds = 60;
  o.idle_timeout = std::chrono::milliseconds(300);  // client gives up on a silent stream
  r = api_->watch(coreEvents(), "default", o, [](const WatchEvent&) {});
  EXPECT_EQ(r.outcome, WatchOutcome::kIdleTimeout);
}

TEST_F(ApiClientTest, GetObjectThroughDiscovery) {
  server_->create("pods", {{"metadata", {{"name", "web-0"}, {"namespace", "demo"}, {"labels", {{"krateo.io/composition-id", "c-1"}}}}}});
  server_->create("fireworksapps.composition.krateo.io",
                  {{"metadata", {{"name", "fw"}, {"namespace", "demo"}}}, {"spec", {{"app", {{"service", {{"port", 31180}}}}}}}});
  server_->create("nodes", {{"metadata", {{"name", "node-1"}}}});
  auto pod = api_->getObject("v1", "Pod", "demo", "web-0");
  ASSERT_TRUE(pod);
  EXPECT_EQ(json::parse(*pod)["metadata"]["labels"]["krateo.io/composition-id"], "c-1");
  auto fw = api_->getObject("composition.krateo.io/v1-2-0", "FireworksApp", "demo", "fw");
  ASSERT_TRUE(fw);
  EXPECT_EQ(json::parse(*fw)["kind"], "FireworksApp");
  // Cluster-scoped: the namespace is ignored.
  EXPECT_TRUE(api_->getObject("v1", "Node", "demo", "node-1"));
  EXPECT_FALSE(api_->getObject("v1", "Pod", "demo", "missing"));
  EXPECT_FALSE(api_->getObject("v1", "NoSuchKind", "demo", "x"));
  EXPECT_FALSE(api_->getObject("nosuch.group/v1", "Thing", "demo", "x"));
  EXPECT_FALSE(api_->get(coreEvents(), "demo", "missing"));
}

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

TEST_F(ApiClientTest, WrongBearerTokenIsUnauthorized) {
  ApiClient wrong(configFor(*server_, "not-the-token"));
  try {
    wrong.list(coreEvents(), "default");
    FAIL() << "expected 401";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.httpStatus(), 401);
    EXPECT_EQ(e.code(), ErrorCode::kUnauthorized);
    EXPECT_EQ(e.reason(), "Unauthorized");
  }
  EXPECT_EQ(server_->lastAuthorization(), "Bearer not-the-token");
  // The static token is retried once after a 401, then the error stands.
  EXPECT_EQ(server_->unauthorizedRequests(), 2u);
  auto w = wrong.watch(coreEvents(), "", {}, [](const WatchEvent&) {});
  EXPECT_EQ(w.outcome, WatchOutcome::kFailed);
  EXPECT_EQ(w.http_status, 401);
  ApiClient none(configFor(*server_));
  EXPECT_THROW(none.list(coreEvents(), ""), ApiError);
}

TEST_F(ApiClientTest, LeaseOptimisticConcurrency) {
  LeaseClient leases(*api_);
  EXPECT_FALSE(leases.get("kobs", "kobs-leader"));
  Lease l;
  l.ns = "kobs";
  l.name = "kobs-leader";
  l.holder_identity = "replica-a";
  l.lease_duration_seconds = 15;
  l.acquire_time = std::chrono::system_clock::now();
  l.renew_time = l.acquire_time;
  Lease created = leases.create(l);
  EXPECT_FALSE(created.resource_version.empty());
  EXPECT_EQ(created.holder_identity, "replica-a");
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::microseconds>(created.renew_time->time_since_epoch()),
            std::chrono::duration_cast<std::chrono::microseconds>(l.renew_time->time_since_epoch()));
  try {
    leases.create(l);
    FAIL() << "expected AlreadyExists";
  } catch (const ApiError& e) {
    EXPECT_TRUE(e.isConflict());
    EXPECT_EQ(e.reason(), "AlreadyExists");
  }
  // Two replicas read the same version; only the first update wins.
  Lease a = *leases.get("kobs", "kobs-leader");
  Lease b = a;
  a.renew_time = std::chrono::system_clock::now();
  Lease renewed = leases.update(a);
  EXPECT_NE(renewed.resource_version, a.resource_version);
  b.holder_identity = "replica-b";
  b.lease_transitions = 1;
  try {
    leases.update(b);
    FAIL() << "expected Conflict";
  } catch (const ApiError& e) {
    EXPECT_TRUE(e.isConflict());
    EXPECT_EQ(e.reason(), "Conflict");
  }
  EXPECT_EQ(leases.get("kobs", "kobs-leader")->holder_identity, "replica-a");
}

TEST(ApiClientTls, VerifiesTheServerAgainstTheConfiguredCa) {
  testing::FakeKubeApiServerOptions o;
  o.tls = true;
  testing::FakeKubeApiServer server(o);
  server.start();
  server.create("events", podEvent("over-tls"));
  ASSERT_NE(server.url().rfind("https://", 0), std::string::npos);
  ApiClient trusted(configFor(server));
  EXPECT_EQ(trusted.list(coreEvents(), "default").items.size(), 1u);
  auto w = trusted.watch(coreEvents(), "default", {.timeout_seconds = 1}, [](const WatchEvent&) {});
  EXPECT_EQ(w.outcome, WatchOutcome::kClosed);
  EXPECT_EQ(w.events, 1u);

  ClusterConfig untrusted = configFor(server);
  untrusted.ca_pem.clear();  // system trust store does not know the fake's certificate
  try {
    ApiClient(untrusted).list(coreEvents(), "default");
    FAIL() << "expected a TLS failure";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.httpStatus(), 0);
    EXPECT_EQ(e.code(), ErrorCode::kApiUnavailable);
  }
  untrusted.insecure_skip_tls_verify = true;
  EXPECT_EQ(ApiClient(untrusted).list(coreEvents(), "default").items.size(), 1u);
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
