// EventsReceiver end to end against a real kube-apiserver + etcd
// (tests/support/real_apiserver, one per binary) → receiver → real Pipeline
// (disk buffer, sender) → the embedded ClickHouse store with kobs's schema,
// read back with SQL. Each test works in namespaces of its own and deletes
// its events when done, so a cluster-wide watch sees only its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>
#include <thread>

#include "collect/demo/demo_feed.h"
#include "collect/k8s_events/event_mapping.h"
#include "events_receiver_harness.h"
#include "k8s/cluster_config.h"
#include "support/real_apiserver.h"
#include "support/tcp_relay.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::collect::k8s_events {
namespace {

using nlohmann::json;
using collect::test::rows;
using collect::test::waitFor;
using kobs::testing::RealApiServer;

RealApiServer& kube() { return kobs::testing::RealApiServerEnvironment::server(); }

constexpr const char* kLabel = "krateo.io/composition-id";

class EventsReceiverRealTest : public test::ReceiverHarness {
 protected:
  static void SetUpTestSuite() {
    openStore("events_rx_real");
    kube().installCompositionCrd();
  }
  static void TearDownTestSuite() { closeStore(); }

  void TearDown() override {
    ReceiverHarness::TearDown();
    for (const auto& ns : namespaces_) kube().request("DELETE", "/api/v1/namespaces/" + ns + "/events");
  }

  std::string newNamespace(const std::string& prefix) {
    namespaces_.push_back(kube().createNamespace(prefix));
    return namespaces_.back();
  }

  // The admin's kubeconfig, optionally through `relay` (same certificate:
  // it names 127.0.0.1, whatever the port).
  ReceiverOptions options(const testing::TcpRelay* relay = nullptr) {
    auto cfg = k8s::loadKubeconfig(kube().kubeconfig());
    if (relay) cfg.server = "https://127.0.0.1:" + std::to_string(relay->port());
    return baseOptions([cfg] { return cfg; });
  }

  static std::string eventsPath(const std::string& ns) { return "/api/v1/namespaces/" + ns + "/events"; }
  json createEvent(const json& e) { return kube().create(eventsPath(e["metadata"]["namespace"]), e); }
  json getEvent(const std::string& ns, const std::string& name) { return kube().get(eventsPath(ns) + "/" + name); }
  // The event's count goes up by one, as a repeating kubelet event does.
  void bump(const std::string& ns, const std::string& name) {
    auto e = getEvent(ns, name);
    e["count"] = e["count"].get<int>() + 1;
    kube().update(eventsPath(ns) + "/" + name, e);
  }
  // A Pod event about a pod that need not exist (resolved to no composition).
  json podEvent(const std::string& ns, const std::string& name, const std::string& pod = "p",
                const std::string& uid = "pod-x", const std::string& reason = "Pulled",
                const std::string& type = "Normal", int count = 1) {
    return createEvent(collect::test::podEvent(ns, name, pod, uid, reason, type, count));
  }
  json compositionEvent(const std::string& ns, const std::string& name, const json& comp, const std::string& type,
                        std::optional<std::string> event_time) {
    testing::FakeEventSpec s;  // only the event's shape, written to the real server
    s.ns = ns;
    s.name = name;
    s.involved_api_version = RealApiServer::kCompositionApiVersion;
    s.involved_kind = "FireworksApp";
    s.involved_name = comp["metadata"]["name"];
    s.involved_uid = comp["metadata"]["uid"];
    s.reason = type == "Warning" ? "UpgradeFailed" : "CreatedExternalResource";
    s.message = "helm release fireworks " + s.reason;
    s.type = type;
    s.source_component = "composition-dynamic-controller";
    s.first_timestamp = s.last_timestamp = collect::test::nowRfc3339();
    s.event_time = event_time;
    if (event_time) {  // the server then wants who reported it and what it did
      s.reporting_controller = "composition-dynamic-controller";
      s.reporting_instance = "cdc-0";
      s.action = "Upgrade";
    }
    s.count = 2;
    return createEvent(testing::makeEvent(s));
  }

  std::vector<std::string> namespaces_;
};

TEST_F(EventsReceiverRealTest, StoresEveryContractColumnForPodAndCustomResourceEvents) {
  const auto ns = newNamespace("rx-columns");
  auto pod = kube().createPod(ns, "web-0", {{kLabel, "comp-7"}});
  auto comp = kube().createComposition(ns, "fireworks");
  const std::string pod_uid = pod["metadata"]["uid"], comp_uid = comp["metadata"]["uid"];
  std::vector<json> stored{podEvent(ns, "web-0.1", "web-0", pod_uid, "Pulled", "Normal"),
                           podEvent(ns, "web-0.2", "web-0", pod_uid, "BackOff", "Warning", 5),
                           compositionEvent(ns, "fireworks.1", comp, "Normal", "2030-01-02T03:04:05.123456Z"),
                           compositionEvent(ns, "fireworks.2", comp, "Warning", std::nullopt)};
  std::sort(stored.begin(), stored.end(), [](const json& a, const json& b) {
    return a["metadata"]["name"].get<std::string>() < b["metadata"]["name"].get<std::string>();
  });
  auto o = options();
  o.mapping.cluster_name = "kind-test";
  startReceiver(o);
  ASSERT_TRUE(waitRows(4));
  auto got = rows(*store_, "SELECT Body, SeverityText, SeverityNumber, ServiceName, ResourceAttributes, "
                           "LogAttributes, toString(toUnixTimestamp64Nano(Timestamp)) AS ts FROM " + table() +
                               " ORDER BY LogAttributes['k8s.event.name']");
  ASSERT_EQ(got.size(), 4u);
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  for (size_t i = 0; i < 4; ++i) {
    const json& ev = stored[i];
    const json& row = got[i];
    SCOPED_TRACE(ev["metadata"]["name"].get<std::string>());
    // Body: the object as the server sent it. These four came in the first
    // list, whose items a real server sends without apiVersion and kind (a
    // watch notification's object has them); the rest is the object its
    // create answered, managed fields included.
    json listed = ev;
    listed.erase("apiVersion");
    listed.erase("kind");
    EXPECT_EQ(json::parse(row["Body"].get<std::string>()), (json{{"type", "ADDED"}, {"object", listed}}));
    int64_t ts = std::stoll(row["ts"].get<std::string>());
    EXPECT_LT(std::abs(now - ts), int64_t(60e9));  // observed time, not the event's own
    EXPECT_EQ(row["SeverityText"], ev["type"]);
    EXPECT_EQ(row["SeverityNumber"], ev["type"] == "Warning" ? 13 : 9);
    EXPECT_EQ(row["ServiceName"], "");
    const json& io = ev["involvedObject"];
    const bool is_pod = io["kind"] == "Pod";
    const std::string comp_id = is_pod ? "comp-7" : comp_uid;
    json want_res = {{"k8s.cluster.name", "kind-test"},
                     {"telemetry.source", "k8s-events"},
                     {"k8s.namespace.name", ns},
                     {"k8s.object.kind", io["kind"]},
                     {"k8s.object.name", io["name"]},
                     {"k8s.object.uid", io["uid"]},
                     {"k8s.object.api_version", io["apiVersion"]},
                     {"k8s.object.resource_version", ""},
                     {"k8s.object.fieldpath", io.value("fieldPath", "")},
                     {"k8s.event.reason", ev["reason"]},
                     {"krateo.composition.id", comp_id}};
    if (is_pod) want_res["k8s.node.name"] = "node-1";
    if (is_pod) want_res["k8s.pod.name"] = "web-0";
    EXPECT_EQ(row["ResourceAttributes"], want_res);
    json want_log = {{"krateo.io/composition-id", comp_id},
                     {"k8s.event.reason", ev["reason"]},
                     {"k8s.event.action", ev.value("action", "")},
                     {"k8s.event.name", ev["metadata"]["name"]},
                     {"k8s.event.uid", ev["metadata"]["uid"]},
                     {"k8s.event.count", std::to_string(ev["count"].get<int>())},
                     {"k8s.event.start_time", goTimeString(ev["metadata"]["creationTimestamp"].get<std::string>())},
                     {"k8s.resource.name", "events"},
                     {"event.domain", "k8s"},
                     {"event.name", ev["metadata"]["name"]}};
    EXPECT_EQ(row["LogAttributes"], want_log);
  }
}

TEST_F(EventsReceiverRealTest, SeedReadmeQueriesAndOldEventsSqlReturnTheRows) {
  const auto ns = newNamespace("rx-seed");
  const auto other = newNamespace("rx-seed-other");
  auto pod = kube().createPod(ns, "web-0", {{kLabel, "comp-7"}});
  auto comp = kube().createComposition(ns, "fireworks");
  const std::string pod_uid = pod["metadata"]["uid"], comp_uid = comp["metadata"]["uid"];
  podEvent(ns, "web-0.1", "web-0", pod_uid, "Pulled");
  podEvent(ns, "web-0.2", "web-0", pod_uid, "Started");
  podEvent(other, "api-0.1", "api-0", "pod-uid-9", "Scheduled");
  compositionEvent(ns, "fireworks.1", comp, "Warning", std::nullopt);
  startReceiver(options());
  ASSERT_TRUE(waitRows(4));
  EXPECT_EQ(count("ResourceAttributes['k8s.event.reason'] != ''"), 4u);
  EXPECT_EQ(count("ResourceAttributes['k8s.pod.name'] = 'web-0'"), 2u);
  // The ClickHouse /events handler's SQL (contract §7).
  auto sql = [&](const std::string& id) {
    return "SELECT JSONExtractString(Body,'object','involvedObject','name') AS obj_name, "
           "JSONExtractString(Body,'object','involvedObject','uid') AS obj_uid, "
           "JSONExtractString(Body,'object','involvedObject','kind') AS obj_kind, "
           "JSONExtractString(Body,'object','reason') AS reason, JSONExtractString(Body,'object','type') AS type, "
           "JSONExtractString(Body,'object','source','component') AS source_component FROM " + table() +
           " WHERE ResourceAttributes['telemetry.source'] = 'k8s-events' AND LogAttributes['krateo.io/composition-id'] = '" +
           id + "' AND JSONExtractString(Body,'object','reason') != '' ORDER BY Timestamp DESC LIMIT 50";
  };
  auto pod_rows = rows(*store_, sql("comp-7"));
  ASSERT_EQ(pod_rows.size(), 2u);
  EXPECT_EQ(pod_rows[0]["reason"], "Started");  // newest first
  EXPECT_EQ(pod_rows[0]["obj_name"], "web-0");
  EXPECT_EQ(pod_rows[0]["obj_kind"], "Pod");
  EXPECT_EQ(pod_rows[0]["source_component"], "kubelet");
  auto fw = rows(*store_, sql(comp_uid));
  ASSERT_EQ(fw.size(), 1u);
  EXPECT_EQ(fw[0]["type"], "Warning");
  EXPECT_EQ(fw[0]["obj_kind"], "FireworksApp");
  EXPECT_EQ(fw[0]["obj_uid"], comp_uid);
  EXPECT_EQ(rows(*store_, sql("nope")).size(), 0u);
}

TEST_F(EventsReceiverRealTest, RestartResumesFromCheckpointWithoutLossOrDuplicates) {
  const auto ns = newNamespace("rx-restart");
  for (int i = 0; i < 20; ++i) podEvent(ns, "e." + std::to_string(i));
  startReceiver(options());
  ASSERT_TRUE(waitRows(20));
  stopReceiver();
  // While kobs is down: counts go up (MODIFIED, twice for some) and new events come.
  for (int i = 0; i < 10; ++i) {
    bump(ns, "e." + std::to_string(i));
    if (i < 3) bump(ns, "e." + std::to_string(i));
  }
  for (int i = 20; i < 25; ++i) podEvent(ns, "e." + std::to_string(i));
  auto& rx = startReceiver(options());
  ASSERT_TRUE(waitRows(20 + 13 + 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a duplicate would land now
  expectEachStoredOnce(38);
  EXPECT_EQ(rx.watcherStat(&k8s::ListWatcherStats::lists), 0u);  // resumed, no relist needed
}

// A crash-looping kobs dies before its checkpoint catches up with what it
// stored. The restart must resume after the newest watch row in the store,
// not list again (a list shows only each event's newest version, so the
// updates made while it was down would be lost): once with no checkpoint at
// all, once with one older than the store whose version etcd has compacted
// away (resuming from it would get 410 and relist).
class CrashBeforeCheckpointRealTest : public EventsReceiverRealTest, public ::testing::WithParamInterface<bool> {};

TEST_P(CrashBeforeCheckpointRealTest, ResumesAfterTheNewestStoredWatchRowWithoutListing) {
  const bool keep_old_checkpoint = GetParam();
  const auto ns = newNamespace("rx-crash");
  for (int i = 0; i < 5; ++i) podEvent(ns, "c." + std::to_string(i));
  const auto state = data_.path() / "k8s_events";
  startReceiver(options());
  ASSERT_TRUE(waitRows(5));
  ASSERT_TRUE(waitFor([&] { return !receiver_->ledger().resumeVersion("*").empty(); }));
  const auto old_checkpoint = state / "checkpoint.json.old";
  std::filesystem::copy_file(state / "checkpoint.json", old_checkpoint);
  for (int i = 0; i < 5; ++i) bump(ns, "c." + std::to_string(i));
  ASSERT_TRUE(waitRows(10));
  EXPECT_EQ(count("LogAttributes['" + std::string(kWatchAttribute) + "'] = '*'"), 5u);  // the watch rows only
  if (keep_old_checkpoint) kube().compactEtcd();  // the old checkpoint's version is now too old
  stopReceiver();
  std::filesystem::remove(state / "checkpoint.json");
  if (keep_old_checkpoint) std::filesystem::rename(old_checkpoint, state / "checkpoint.json");
  // While down: every event is updated twice (the first update is what a
  // list would miss), and two new ones come.
  for (int i = 0; i < 5; ++i) bump(ns, "c." + std::to_string(i)), bump(ns, "c." + std::to_string(i));
  for (int i = 5; i < 7; ++i) podEvent(ns, "c." + std::to_string(i));
  auto& rx = startReceiver(options());
  ASSERT_TRUE(waitRows(22));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  expectEachStoredOnce(22);
  EXPECT_EQ(rx.watcherStat(&k8s::ListWatcherStats::lists), 0u);
  EXPECT_EQ(rx.watcherStat(&k8s::ListWatcherStats::relists), 0u);
}

INSTANTIATE_TEST_SUITE_P(Checkpoint, CrashBeforeCheckpointRealTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "OlderAndCompacted" : "Missing"; });

TEST_F(EventsReceiverRealTest, EachNamespaceWatchResumesFromItsOwnStoredRowsAfterACrash) {
  const auto a = newNamespace("rx-ns-a"), b = newNamespace("rx-ns-b");
  for (const auto& ns : {a, b}) podEvent(ns, "n.1");
  auto o = options();
  o.namespaces = {a, b};
  startReceiver(o);
  ASSERT_TRUE(waitRows(2));
  bump(a, "n.1"), bump(b, "n.1"), bump(a, "n.1");
  ASSERT_TRUE(waitRows(5));
  const std::string attr = "LogAttributes['" + std::string(kWatchAttribute) + "']";
  EXPECT_EQ(count(attr + " = '" + a + "'"), 2u);
  EXPECT_EQ(count(attr + " = '" + b + "'"), 1u);
  stopReceiver();
  std::filesystem::remove(data_.path() / "k8s_events" / "checkpoint.json");  // died before writing it
  bump(b, "n.1"), bump(b, "n.1"), bump(a, "n.1");
  auto& rx = startReceiver(o);
  ASSERT_TRUE(waitRows(8));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  expectEachStoredOnce(8);
  EXPECT_EQ(rx.watcherStat(&k8s::ListWatcherStats::lists), 0u);
}

// The API server becomes unreachable (the relay cuts every connection) while
// events change and etcd compacts its history: the resumed watch gets 410 and
// the receiver relists, storing each change once. Then the API server itself
// is killed and restarted while events keep coming.
TEST_F(EventsReceiverRealTest, GoneWhileUnreachableAndApiServerRestartLoseAndRepeatNothing) {
  metrics::Registry reg;
  const auto ns = newNamespace("rx-gone");
  for (int i = 0; i < 10; ++i) podEvent(ns, "g." + std::to_string(i));
  testing::TcpRelay relay(kube().port());
  auto& rx = startReceiver(options(&relay), &reg);
  ASSERT_TRUE(waitRows(10));
  ASSERT_TRUE(waitFor([&] { return rx.watching(); }));
  relay.cut();
  ASSERT_TRUE(waitFor([&] { return relay.open() == 0; }));
  for (int i = 0; i < 5; ++i) {
    auto e = getEvent(ns, "g." + std::to_string(i));
    e["count"] = 4;
    kube().update(eventsPath(ns) + "/g." + std::to_string(i), e);
  }
  for (int i = 10; i < 13; ++i) podEvent(ns, "g." + std::to_string(i));
  kube().compactEtcd();
  relay.restore();
  ASSERT_TRUE(waitRows(18));
  ASSERT_TRUE(waitFor([&] { return rx.watcherStat(&k8s::ListWatcherStats::relists) >= 1; }));
  kube().restartApiServer(/*kill_hard=*/true);
  for (int i = 13; i < 16; ++i) podEvent(ns, "g." + std::to_string(i));
  ASSERT_TRUE(waitRows(21));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  expectEachStoredOnce(21);
  // Relisted items whose count went up were stored as MODIFIED.
  EXPECT_EQ(count("startsWith(Body, '{\"type\":\"MODIFIED\"')"), 5u);
  EXPECT_GE(rx.stats().duplicates.load(), 5u);  // the unchanged relisted items
  auto text = reg.renderPrometheus();
  EXPECT_NE(text.find("kobs_k8s_events_relists_total{component=\"k8s_events\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("kobs_k8s_events_rows_stored_total{component=\"k8s_events\"} 21"), std::string::npos) << text;
}

TEST_F(EventsReceiverRealTest, FirstStartSkipsEventsOlderThanMaxAge) {
  const auto ns = newNamespace("rx-old");
  auto old = collect::test::podEvent(ns, "old.1", "p", "pod-x");
  old["lastTimestamp"] = old["firstTimestamp"] = collect::test::nowRfc3339(std::chrono::hours(3));
  createEvent(old);
  podEvent(ns, "new.1");
  auto o = options();
  o.max_age = std::chrono::hours(1);
  auto& rx = startReceiver(o);
  ASSERT_TRUE(waitRows(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(count(), 1u);
  EXPECT_EQ(rx.stats().skipped_old.load(), 1u);
}

TEST_F(EventsReceiverRealTest, DeletedIsSkippedUnlessConfigured) {
  const auto ns = newNamespace("rx-deleted");
  podEvent(ns, "d.1");
  auto o = options();
  auto& rx = startReceiver(o);
  ASSERT_TRUE(waitRows(1));
  kube().remove(eventsPath(ns) + "/d.1");
  ASSERT_TRUE(waitFor([&] { return rx.stats().skipped_deleted.load() == 1; }));
  stopReceiver();
  podEvent(ns, "d.2");
  o.store_deleted = true;
  startReceiver(o);
  ASSERT_TRUE(waitRows(2));
  kube().remove(eventsPath(ns) + "/d.2");
  ASSERT_TRUE(waitRows(1, "startsWith(Body, '{\"type\":\"DELETED\"')"));
}

TEST_F(EventsReceiverRealTest, OneWatcherPerConfiguredNamespace) {
  const auto a = newNamespace("rx-one-a"), b = newNamespace("rx-one-b"), c = newNamespace("rx-one-c");
  podEvent(a, "x.1");
  podEvent(b, "x.2");
  podEvent(c, "x.3");
  auto o = options();
  o.namespaces = {a, b};
  startReceiver(o);
  ASSERT_TRUE(waitRows(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(count(), 2u);
  EXPECT_EQ(count("ResourceAttributes['k8s.namespace.name'] = '" + c + "'"), 0u);
}

// Two receivers in one process share a real Lease: one watches, and when it
// stops (releasing the Lease) the other takes over without repeating rows.
TEST_F(EventsReceiverRealTest, LeaderElectionLetsOneReplicaWatchAndHandsOver) {
  const auto ns = newNamespace("rx-leader");
  podEvent(ns, "l.1");
  auto o = options();
  o.namespaces = {ns};
  o.leader.enabled = true;
  o.leader.lease_namespace = ns;
  o.leader.lease_duration = std::chrono::seconds(2);
  o.leader.renew_deadline = std::chrono::seconds(1);
  o.leader.retry_period = std::chrono::milliseconds(100);
  testing::TempDir other;
  auto oa = o, ob = o;
  oa.leader.identity = "replica-a";
  ob.leader.identity = "replica-b";
  ob.state_dir = other.path();
  auto a = std::make_unique<EventsReceiver>(oa, *pipeline_, *store_, nullptr);
  auto b = std::make_unique<EventsReceiver>(ob, *pipeline_, *store_, nullptr);
  a->start();
  ASSERT_TRUE(waitFor([&] { return a->watching(); }));
  b->start();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(b->watching());
  ASSERT_TRUE(waitRows(1));
  a->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));  // releases the lease
  ASSERT_TRUE(waitFor([&] { return b->watching(); }, std::chrono::seconds(30)));
  podEvent(ns, "l.2");
  ASSERT_TRUE(waitRows(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // B's first start found l.1 in the store (written by A) and did not repeat it.
  expectEachStoredOnce(2);
  auto lease = kube().get("/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases/kobs-k8s-events");
  EXPECT_EQ(lease["spec"]["holderIdentity"], "replica-b");
  b->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

// No server at all: nothing to fake or to run.
TEST_F(EventsReceiverRealTest, NoClusterDoesNotThrowAndKeepsRetrying) {
  auto o = options();
  std::atomic<int> attempts = 0;
  o.cluster = [&attempts]() -> k8s::ClusterConfig {
    ++attempts;
    throw Exception(ErrorCode::kBadConfig, "no kubeconfig found");
  };
  auto& rx = startReceiver(o);
  EXPECT_TRUE(waitFor([&] { return attempts >= 3; }));
  EXPECT_FALSE(rx.connected());
  stopReceiver();
}

TEST_F(EventsReceiverRealTest, DemoFeedStoresTheScenarioThroughTheSameMapping) {
  demo::DemoOptions o;
  o.scenario_duration = std::chrono::milliseconds(300);
  o.crashloop_interval = std::chrono::milliseconds(100);
  demo::DemoFeed feed(o, *pipeline_);
  feed.start();
  const auto n = demo::DemoFeed::scenario(std::chrono::system_clock::now()).size();
  ASSERT_TRUE(waitFor([&] { return feed.emitted() >= n + 2; }));
  feed.shutdown(std::chrono::steady_clock::now());
  pipeline_->flush();
  const std::string id = demo::kDemoCompositionId;
  ASSERT_TRUE(waitRows(n + 2, "LogAttributes['krateo.io/composition-id'] = '" + id + "'"));
  EXPECT_GE(count("ResourceAttributes['k8s.namespace.name'] = 'demo-system' AND SeverityText = 'Warning' AND "
                  "ResourceAttributes['k8s.event.reason'] = 'BackOff' AND startsWith(Body, '{\"type\":\"MODIFIED\"')"),
            2u);
  EXPECT_EQ(count("ResourceAttributes['k8s.object.kind'] = 'FireworksApp' AND "
                  "ResourceAttributes['k8s.event.reason'] = 'UpgradeFailed'"),
            1u);
  EXPECT_GE(count("ResourceAttributes['k8s.pod.name'] != ''"), 8u);
}

}  // namespace
}  // namespace kobs::collect::k8s_events
