// The Kubernetes client (ApiClient, ListWatcher, LeaseClient, kubeconfig
// loading) against a real kube-apiserver v1.34 on etcd (tests/support/
// real_apiserver), shared by every test of this binary. Each test works in
// its own namespace. What a real server cannot be made to do on demand
// (malformed lines, truncated chunks, ERROR events mid-stream) stays in the
// tests against the fake.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "k8s/api_client.h"
#include "k8s/api_error.h"
#include "k8s/cluster_config.h"
#include "k8s/lease.h"
#include "k8s/list_watcher.h"
#include "support/real_apiserver.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::k8s {
namespace {

using json = nlohmann::json;
using testing::RealApiServer;
using testing::RealApiServerEnvironment;

RealApiServer& kube() { return RealApiServerEnvironment::server(); }

bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

ClusterConfig adminConfig() { return loadKubeconfig(kube().kubeconfig()); }

ResourceRef coreEvents() { return {"", "v1", "events"}; }

std::string nameOf(std::string_view object) { return json::parse(object)["metadata"]["name"]; }

// Records what a ListWatcher delivers, as a consumer of events would.
struct Recorder {
  std::mutex mutex;
  std::vector<std::pair<ListReason, std::set<std::string>>> lists;
  std::map<std::string, int> added;
  std::vector<std::string> deliveries;  // "TYPE name"
  std::vector<std::string> bookmarks;

  ListWatcherHandlers handlers() {
    ListWatcherHandlers h;
    h.on_list = [this](std::vector<std::string>& items, const std::string&, ListReason reason) {
      std::set<std::string> names;
      for (const auto& i : items) names.insert(nameOf(i));
      std::lock_guard lock(mutex);
      lists.emplace_back(reason, std::move(names));
    };
    h.on_event = [this](WatchEventType type, std::string_view object, std::string_view) {
      std::string name = nameOf(object);
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

class RealApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = kube().createNamespace("k8s");
    api_ = std::make_unique<ApiClient>(adminConfig());
    pod_ = kube().createPod(ns_, "web-0");
  }
  json event(const std::string& name) { return kube().createEvent(ns_, name, pod_, "Pulled", "pulled " + name); }
  ListWatcherOptions options() {
    ListWatcherOptions o;
    o.resource = coreEvents();
    o.ns = ns_;
    o.page_size = 4;
    o.backoff_initial = std::chrono::milliseconds(20);
    o.backoff_max = std::chrono::milliseconds(500);
    return o;
  }

  std::string ns_;
  json pod_;
  std::unique_ptr<ApiClient> api_;
};

TEST_F(RealApiServerTest, ListPagesAreOneSnapshotWithContinueTokens) {
  for (int i = 0; i < 5; ++i) event(fmt::format("pre-{}", i));
  ListOptions o;
  o.limit = 2;
  auto first = api_->list(coreEvents(), ns_, o);
  ASSERT_EQ(first.items.size(), 2u);
  ASSERT_FALSE(first.continue_token.empty());
  EXPECT_EQ(first.remaining_item_count, 3);
  event("created-between-pages");  // not in the snapshot the pages come from
  std::set<std::string> names;
  for (const auto& i : first.items) names.insert(nameOf(i));
  o.continue_token = first.continue_token;
  for (;;) {
    auto page = api_->list(coreEvents(), ns_, o);
    for (const auto& i : page.items) names.insert(nameOf(i));
    if (page.continue_token.empty()) break;
    o.continue_token = page.continue_token;
  }
  EXPECT_EQ(names, (std::set<std::string>{"pre-0", "pre-1", "pre-2", "pre-3", "pre-4"}));
  auto all = api_->listAll(coreEvents(), ns_, {}, 2);
  EXPECT_EQ(all.items.size(), 6u);
  EXPECT_FALSE(all.resource_version.empty());
}

TEST_F(RealApiServerTest, LabelSelectorFilters) {
  kube().createPod(ns_, "a", {{"tier", "front"}});
  kube().createPod(ns_, "b", {{"tier", "back"}});
  ListOptions o;
  o.label_selector = "tier=front";
  auto r = api_->list({"", "v1", "pods"}, ns_, o);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(nameOf(r.items[0]), "a");
}

TEST_F(RealApiServerTest, WatchWithoutVersionSendsAddsThenTheInitialEventsEndBookmark) {
  event("old-1");
  event("old-2");
  std::vector<std::string> seen;
  std::atomic<bool> initial_end{false};
  std::stop_source stop;
  std::thread creator;
  WatchOptions o;
  o.stop = stop.get_token();
  o.timeout_seconds = 60;
  auto result = api_->watch(coreEvents(), ns_, o, [&](const WatchEvent& e) {
    if (e.type == WatchEventType::kBookmark) {
      auto obj = json::parse(e.object);
      if (obj["metadata"].value("annotations", json::object()).value("k8s.io/initial-events-end", "") == "true") {
        seen.push_back("BOOKMARK initial-events-end");
        initial_end = true;
        creator = std::thread([&] { event("live-1"); });
      }
      return;
    }
    seen.push_back(std::string(watchEventTypeName(e.type)) + " " + nameOf(e.object));
    if (nameOf(e.object) == "live-1") stop.request_stop();
  });
  if (creator.joinable()) creator.join();
  EXPECT_EQ(result.outcome, WatchOutcome::kStopped) << result.error;
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.begin() + 2), (std::set<std::string>{"ADDED old-1", "ADDED old-2"}));
  EXPECT_EQ(seen[2], "BOOKMARK initial-events-end");
  EXPECT_EQ(seen[3], "ADDED live-1");
}

TEST_F(RealApiServerTest, WatchFromAVersionReplaysThenFollowsUpdatesAndDeletes) {
  auto listed = api_->list(coreEvents(), ns_);
  auto e = event("a");
  event("b");
  std::vector<std::string> seen;
  std::string last_rv;
  std::stop_source stop;
  std::thread writer;
  WatchOptions o;
  o.resource_version = listed.resource_version;
  o.stop = stop.get_token();
  o.timeout_seconds = 60;
  auto result = api_->watch(coreEvents(), ns_, o, [&](const WatchEvent& ev) {
    if (ev.type == WatchEventType::kBookmark) return;
    seen.push_back(std::string(watchEventTypeName(ev.type)) + " " + nameOf(ev.object));
    last_rv = std::string(ev.resource_version);
    if (seen.size() == 2)
      writer = std::thread([&] {
        e["count"] = 2;
        kube().update("/api/v1/namespaces/" + ns_ + "/events/a", e);
        kube().remove("/api/v1/namespaces/" + ns_ + "/events/b");
      });
    if (seen.size() == 4) stop.request_stop();
  });
  if (writer.joinable()) writer.join();
  EXPECT_EQ(result.outcome, WatchOutcome::kStopped);
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED a", "ADDED b", "MODIFIED a", "DELETED b"}));
  EXPECT_EQ(result.last_resource_version, last_rv);
}

TEST_F(RealApiServerTest, ListWatcherListsThenWatchesFromTheListVersion) {
  for (int i = 0; i < 6; ++i) event(fmt::format("pre-{}", i));
  Recorder rec;
  ListWatcher lw(*api_, options(), rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 1; }));
  event("live-1");
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() == 1; }));
  lw.stop();
  EXPECT_EQ(rec.lists[0].first, ListReason::kInitial);
  EXPECT_EQ(rec.lists[0].second.size(), 6u);
  EXPECT_EQ(rec.deliveries, std::vector<std::string>{"ADDED live-1"});
  EXPECT_EQ(lw.stats().lists.load(), 1u);
  EXPECT_EQ(lw.stats().relists.load(), 0u);
}

TEST_F(RealApiServerTest, ResumesFromAResourceVersionWithoutListing) {
  for (int i = 0; i < 3; ++i) event(fmt::format("stored-{}", i));
  const std::string rv = api_->list(coreEvents(), ns_).resource_version;
  event("missed-while-down");
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

// etcd compaction through its API makes old versions unreadable (a continue
// token from before it is 410). Watches are served from the API server's
// watch cache, which keeps history only from its own start: after a restart
// (an upgrade, a crash) a resume from before that is 410 and must relist.
TEST_F(RealApiServerTest, CompactedResumeVersionAndContinueTokenAreGone) {
  event("a");
  ListOptions paged;
  paged.limit = 1;
  event("b");
  auto first_page = api_->list(coreEvents(), ns_, paged);
  ASSERT_FALSE(first_page.continue_token.empty());
  const std::string rv = first_page.resource_version;
  event("c");
  event("d");  // the cache may still serve the version just before its start
  kube().compactEtcd();
  kube().restartApiServer();
  api_ = std::make_unique<ApiClient>(adminConfig());

  paged.continue_token = first_page.continue_token;
  try {
    api_->list(coreEvents(), ns_, paged);
    ADD_FAILURE() << "a continue token from before the compaction was accepted";
  } catch (const ApiError& e) {
    EXPECT_TRUE(e.isGone()) << e.httpStatus() << " " << e.reason() << " " << e.what();
  }

  auto o = options();
  o.resume_resource_version = rv;
  Recorder rec;
  ListWatcher lw(*api_, o, rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 1; }));
  event("e");
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() == 1; }));
  lw.stop();
  EXPECT_EQ(rec.lists[0].first, ListReason::kResumeExpired);
  EXPECT_EQ(rec.lists[0].second, (std::set<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(lw.stats().relists.load(), 1u);
  EXPECT_EQ(rec.deliveries, std::vector<std::string>{"ADDED e"});
}

TEST_F(RealApiServerTest, ApiServerRestartMidWatchLosesAndRepeatsNothing) {
  Recorder rec;
  ListWatcher lw(*api_, options(), rec.handlers());
  lw.start();
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 1; }));
  std::set<std::string> created;
  for (int i = 0; i < 20; ++i) created.insert(event(fmt::format("before-{:02}", i))["metadata"]["name"]);
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() >= 5; }));
  kube().restartApiServer(/*kill_hard=*/true);
  for (int i = 0; i < 20; ++i) created.insert(event(fmt::format("after-{:02}", i))["metadata"]["name"]);
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() >= created.size(); }, std::chrono::seconds(60)))
      << rec.deliveryCount() << " of " << created.size();
  lw.stop();
  std::lock_guard lock(rec.mutex);
  EXPECT_EQ(rec.deliveries.size(), created.size());
  std::set<std::string> got;
  for (const auto& [name, n] : rec.added) {
    EXPECT_EQ(n, 1) << name;
    got.insert(name);
  }
  EXPECT_EQ(got, created);
  EXPECT_EQ(lw.stats().relists.load(), 0u);
  EXPECT_GE(lw.stats().errors.load() + lw.stats().watch_restarts.load(), 1u);
}

TEST_F(RealApiServerTest, FailingHandlerRewatchesFromTheLastAcceptedVersion) {
  Recorder rec;
  auto handlers = rec.handlers();
  std::atomic<int> failures{1};
  auto inner = handlers.on_event;
  handlers.on_event = [&](WatchEventType t, std::string_view o, std::string_view rv) {
    if (nameOf(o) == "second" && failures.fetch_sub(1) > 0) throw std::runtime_error("store unavailable");
    inner(t, o, rv);
  };
  ListWatcher lw(*api_, options(), handlers);
  lw.start();
  ASSERT_TRUE(waitFor([&] { return rec.listCount() == 1; }));
  event("first");
  event("second");
  event("third");
  ASSERT_TRUE(waitFor([&] { return rec.deliveryCount() == 3; }));
  lw.stop();
  EXPECT_EQ(rec.deliveries, (std::vector<std::string>{"ADDED first", "ADDED second", "ADDED third"}));
  EXPECT_EQ(lw.stats().errors.load(), 1u);
}

TEST_F(RealApiServerTest, StopIsPromptAndIdempotent) {
  Recorder rec;
  ListWatcher lw(*api_, options(), rec.handlers());
  lw.stop();  // before start
  lw.start();
  lw.start();
  ASSERT_TRUE(waitFor([&] { return lw.stats().watches.load() == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  lw.stop();
  lw.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
}

TEST_F(RealApiServerTest, WatchTimeouts) {
  const std::string rv = api_->list(coreEvents(), ns_).resource_version;
  WatchOptions o;
  o.resource_version = rv;  // nothing to replay: the stream stays silent
  o.allow_bookmarks = false;
  o.timeout_seconds = 1;  // server ends it
  auto r = api_->watch(coreEvents(), ns_, o, [](const WatchEvent&) {});
  EXPECT_EQ(r.outcome, WatchOutcome::kClosed) << r.error;
  o.timeout_seconds = 60;
  o.idle_timeout = std::chrono::milliseconds(300);  // client gives up on a silent stream
  r = api_->watch(coreEvents(), ns_, o, [](const WatchEvent&) {});
  EXPECT_EQ(r.outcome, WatchOutcome::kIdleTimeout) << r.error;
}

TEST_F(RealApiServerTest, EventsK8sIoWatchCarriesRegardingAndNote) {
  kube().createEventV1(ns_, "v1-event", pod_, "Scheduled", "assigned to node-1");
  auto r = api_->list({"events.k8s.io", "v1", "events"}, ns_);
  ASSERT_EQ(r.items.size(), 1u);
  auto e = json::parse(r.items[0]);
  EXPECT_EQ(e["regarding"]["uid"], pod_["metadata"]["uid"]);
  EXPECT_EQ(e["note"], "assigned to node-1");
  // The same object through core/v1 has involvedObject and message.
  auto core = json::parse(api_->get(coreEvents(), ns_, "v1-event").value());
  EXPECT_EQ(core["involvedObject"]["uid"], pod_["metadata"]["uid"]);
  EXPECT_EQ(core["message"], "assigned to node-1");
}

TEST_F(RealApiServerTest, GetObjectThroughDiscoveryIncludingACustomResource) {
  auto w = kube().createDeployment(ns_, "web", {{"app.kubernetes.io/name", "web"}});
  auto comp = kube().createComposition(ns_, "fireworks");
  auto dep = api_->getObject("apps/v1", "Deployment", ns_, "web");
  ASSERT_TRUE(dep);
  EXPECT_EQ(json::parse(*dep)["metadata"]["uid"], w.deployment["metadata"]["uid"]);
  auto cr = api_->getObject(RealApiServer::kCompositionApiVersion, "FireworksApp", ns_, "fireworks");
  ASSERT_TRUE(cr);
  EXPECT_EQ(json::parse(*cr)["metadata"]["uid"], comp["metadata"]["uid"]);
  EXPECT_FALSE(api_->getObject("apps/v1", "Deployment", ns_, "absent"));
  EXPECT_FALSE(api_->getObject("nope.example.com/v1", "Thing", ns_, "x"));
}

TEST_F(RealApiServerTest, WrongTokenIsUnauthorizedAndAnUnboundUserForbidden) {
  auto bad = adminConfig();
  bad.token = std::make_shared<StaticTokenSource>("not-a-token");
  ApiClient wrong(bad);
  try {
    wrong.list(coreEvents(), ns_);
    ADD_FAILURE() << "a wrong token was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.httpStatus(), 401);
  }
  // carol is authenticated but bound to nothing.
  ApiClient carol(loadKubeconfig(kube().kubeconfig(), "carol"));
  try {
    carol.list(coreEvents(), ns_);
    ADD_FAILURE() << "an unbound user could list events";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.httpStatus(), 403);
  }
  kube().grant(ns_, "User", "carol", {"list"}, {"events"});
  EXPECT_NO_THROW(carol.list(coreEvents(), ns_));
}

TEST_F(RealApiServerTest, KubeconfigContextsPickTheUser) {
  auto alice = loadKubeconfig(kube().kubeconfig(), "alice");
  EXPECT_EQ(alice.server, kube().url());
  EXPECT_EQ(alice.default_namespace, "default");
  ApiClient client(alice);
  EXPECT_THROW(client.list(coreEvents(), ns_), ApiError);
  // A grant to alice's group is a grant to her.
  kube().grant(ns_, "Group", "devs", {"list"}, {"events"});
  event("visible");
  EXPECT_EQ(client.list(coreEvents(), ns_).items.size(), 1u);
}

TEST_F(RealApiServerTest, ServerCertificateIsVerifiedAgainstTheConfiguredCa) {
  auto c = adminConfig();
  c.ca_pem.clear();  // the system trust store does not know the test CA
  ApiClient untrusted(c);
  try {
    untrusted.list(coreEvents(), ns_);
    ADD_FAILURE() << "an unknown certificate was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.httpStatus(), 0) << e.what();
    EXPECT_EQ(e.code(), ErrorCode::kApiUnavailable);
  }
  c.insecure_skip_tls_verify = true;
  event("over-tls");
  EXPECT_EQ(ApiClient(c).list(coreEvents(), ns_).items.size(), 1u);
}

TEST_F(RealApiServerTest, LeaseUpdatesAreOptimisticallyConcurrent) {
  LeaseClient leases(*api_);
  EXPECT_FALSE(leases.get(ns_, "kobs"));
  Lease l;
  l.ns = ns_;
  l.name = "kobs";
  l.holder_identity = "replica-a";
  l.lease_duration_seconds = 15;
  l.renew_time = std::chrono::system_clock::now();
  auto created = leases.create(l);
  EXPECT_FALSE(created.resource_version.empty());
  try {
    leases.create(l);
    ADD_FAILURE() << "a second create succeeded";
  } catch (const ApiError& e) {
    EXPECT_TRUE(e.isConflict());
  }
  auto a = *leases.get(ns_, "kobs");
  auto b = a;
  a.holder_identity = "replica-a";
  a.renew_time = std::chrono::system_clock::now();
  auto renewed = leases.update(a);
  EXPECT_NE(renewed.resource_version, a.resource_version);
  b.holder_identity = "replica-b";  // read before a's update: stale
  try {
    leases.update(b);
    ADD_FAILURE() << "a stale update succeeded";
  } catch (const ApiError& e) {
    EXPECT_TRUE(e.isConflict());
  }
  EXPECT_EQ(leases.get(ns_, "kobs")->holder_identity, "replica-a");
}

}  // namespace
}  // namespace kobs::k8s
