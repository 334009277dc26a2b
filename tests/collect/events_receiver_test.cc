// EventsReceiver end to end: the fake API server (standing in for the real
// kube-apiserver) → receiver → real Pipeline (disk buffer, sender) → the
// embedded ClickHouse store with kobs's schema, read back with SQL.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "collect/demo/demo_feed.h"
#include "collect/k8s_events/events_receiver.h"
#include "collect_test_util.h"
#include "common/metrics.h"
#include "store/embedded/embedded_store.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::collect::k8s_events {
namespace {

using nlohmann::json;
using test::rows;
using test::waitFor;

constexpr const char* kDb = "events_rx";

class EventsReceiverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    store_ = testing::openEmbeddedStore(kDb).release();
    store::schema::SchemaOptions so;
    so.database = kDb;
    schema_ = new store::schema::Schema(store::schema::SchemaManager::apply(*store_, so));
  }
  static void TearDownTestSuite() {
    delete schema_;
    delete store_;
  }

  void SetUp() override {
    store_->execute(std::string("TRUNCATE TABLE ") + kDb + ".otel_logs");
    server_.start();
    openPipeline();
  }
  void TearDown() override {
    receiver_.reset();
    closePipeline();
  }

  void openPipeline() {
    pipeline::PipelineOptions po;
    po.buffer.dir = data_.path() / "buffer";
    po.buffer.fsync = pipeline::FsyncPolicy::kNever;
    po.batch.max_age = std::chrono::milliseconds(50);
    po.flush_tick = std::chrono::milliseconds(20);
    pipeline_ = std::make_unique<pipeline::Pipeline>(*store_, test::logsTarget(*schema_), po);
    pipeline_->start();
  }
  void closePipeline() {
    if (pipeline_) pipeline_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
    pipeline_.reset();
  }

  ReceiverOptions options(const std::filesystem::path& state = {}) {
    ReceiverOptions o;
    o.state_dir = state.empty() ? data_.path() / "k8s_events" : state;
    std::string url = server_.url();
    o.cluster = [url] {
      k8s::ClusterConfig c;
      c.server = url;
      c.source = "test";
      return c;
    };
    o.max_age = std::chrono::hours(24);
    o.checkpoint_interval = std::chrono::milliseconds(50);
    o.tick = std::chrono::milliseconds(20);
    o.backoff_initial = std::chrono::milliseconds(20);
    o.backoff_max = std::chrono::milliseconds(200);
    o.resolver.api_calls_per_second = 0;
    o.max_line_bytes = 4u << 20;
    return o;
  }

  EventsReceiver& startReceiver(ReceiverOptions o, metrics::Registry* m = nullptr) {
    receiver_ = std::make_unique<EventsReceiver>(std::move(o), *pipeline_, *store_, m);
    receiver_->start();
    return *receiver_;
  }
  void stopReceiver() {
    if (receiver_) receiver_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    receiver_.reset();
  }

  uint64_t count(const std::string& where = "1") {
    auto r = rows(*store_, std::string("SELECT count() AS n FROM ") + kDb + ".otel_logs WHERE " + where);
    return r.at(0).at("n").get<uint64_t>();
  }
  bool waitRows(uint64_t n, const std::string& where = "1") {
    return waitFor([&] { return count(where) >= n; });
  }

  // Every (event uid, resourceVersion) stored, with how many rows each has.
  std::map<std::pair<std::string, std::string>, int> storedPairs() {
    std::map<std::pair<std::string, std::string>, int> out;
    for (const auto& r : rows(*store_, std::string("SELECT LogAttributes['k8s.event.uid'] AS u, "
                                                   "JSONExtractString(Body,'object','metadata','resourceVersion') AS rv "
                                                   "FROM ") + kDb + ".otel_logs"))
      ++out[{r["u"].get<std::string>(), r["rv"].get<std::string>()}];
    return out;
  }

  static inline store::EmbeddedStore* store_ = nullptr;
  static inline store::schema::Schema* schema_ = nullptr;

  testing::TempDir data_;
  testing::FakeKubeApiServer server_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  std::unique_ptr<EventsReceiver> receiver_;
};

// The involved objects of the tests: a labelled pod and an unlabelled
// FireworksApp composition (its uid is its id).
void createObjects(testing::FakeKubeApiServer& s) {
  s.create("pods", {{"metadata", {{"name", "web-0"}, {"namespace", "demo"}, {"uid", "pod-uid-1"},
                                  {"labels", {{"krateo.io/composition-id", "comp-7"}}}}}});
  s.create("fireworksapps.composition.krateo.io",
           {{"metadata", {{"name", "fireworks"}, {"namespace", "demo"}, {"uid", "fw-uid-1"}}}});
}

json fireworksEvent(const std::string& name, const std::string& type, std::optional<std::string> event_time) {
  testing::FakeEventSpec s;
  s.ns = "demo";
  s.name = name;
  s.involved_api_version = "composition.krateo.io/v1-2-0";
  s.involved_kind = "FireworksApp";
  s.involved_name = "fireworks";
  s.involved_uid = "fw-uid-1";
  s.reason = type == "Warning" ? "UpgradeFailed" : "CreatedExternalResource";
  s.message = "helm release fireworks " + s.reason;
  s.type = type;
  s.source_component = "composition-dynamic-controller";
  s.first_timestamp = s.last_timestamp = test::nowRfc3339();
  s.event_time = event_time;
  s.count = 2;
  return testing::makeEvent(s);
}

TEST_F(EventsReceiverTest, StoresEveryContractColumnForPodAndCustomResourceEvents) {
  createObjects(server_);
  json e1 = test::podEvent("demo", "web-0.1", "web-0", "pod-uid-1", "Pulled", "Normal");
  json e2 = test::podEvent("demo", "web-0.2", "web-0", "pod-uid-1", "BackOff", "Warning", 5);
  json e3 = fireworksEvent("fireworks.1", "Normal", "2030-01-02T03:04:05.123456Z");
  json e4 = fireworksEvent("fireworks.2", "Warning", std::nullopt);
  std::vector<json> stored;
  for (auto* e : {&e1, &e2, &e3, &e4}) stored.push_back(server_.create("events", *e));
  std::sort(stored.begin(), stored.end(), [](const json& a, const json& b) {
    return a["metadata"]["name"].get<std::string>() < b["metadata"]["name"].get<std::string>();
  });

  auto o = options();
  o.mapping.cluster_name = "kind-test";
  startReceiver(o);
  ASSERT_TRUE(waitRows(4));
  auto got = rows(*store_, std::string("SELECT Body, SeverityText, SeverityNumber, ServiceName, ResourceAttributes, "
                                       "LogAttributes, toString(toUnixTimestamp64Nano(Timestamp)) AS ts FROM ") +
                               kDb + ".otel_logs ORDER BY LogAttributes['k8s.event.name']");
  ASSERT_EQ(got.size(), 4u);
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  for (size_t i = 0; i < 4; ++i) {
    const json& ev = stored[i];
    const json& row = got[i];
    SCOPED_TRACE(ev["metadata"]["name"].get<std::string>());
    // Body: the watch notification with the object as the server sent it.
    EXPECT_EQ(row["Body"], "{\"type\":\"ADDED\",\"object\":" + ev.dump() + "}");
    // Timestamp: observed (now), not the event's own times.
    int64_t ts = std::stoll(row["ts"].get<std::string>());
    EXPECT_LT(std::abs(now - ts), int64_t(60e9));
    EXPECT_EQ(row["SeverityText"], ev["type"]);
    EXPECT_EQ(row["SeverityNumber"], ev["type"] == "Warning" ? 13 : 9);
    EXPECT_EQ(row["ServiceName"], "");
    const json& io = ev["involvedObject"];
    const bool pod = io["kind"] == "Pod";
    json want_res = {{"k8s.cluster.name", "kind-test"},
                     {"telemetry.source", "k8s-events"},
                     {"k8s.namespace.name", "demo"},
                     {"k8s.object.kind", io["kind"]},
                     {"k8s.object.name", io["name"]},
                     {"k8s.object.uid", io["uid"]},
                     {"k8s.object.api_version", io["apiVersion"]},
                     {"k8s.object.resource_version", ""},
                     {"k8s.object.fieldpath", io.value("fieldPath", "")},
                     {"k8s.event.reason", ev["reason"]},
                     {"krateo.composition.id", pod ? "comp-7" : "fw-uid-1"}};
    if (pod) want_res["k8s.node.name"] = "node-1";
    if (pod) want_res["k8s.pod.name"] = "web-0";
    EXPECT_EQ(row["ResourceAttributes"], want_res);
    json want_log = {{"krateo.io/composition-id", pod ? "comp-7" : "fw-uid-1"},
                     {"k8s.event.reason", ev["reason"]},
                     {"k8s.event.action", ""},
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

TEST_F(EventsReceiverTest, SeedReadmeQueriesAndOldEventsSqlReturnTheRows) {
  createObjects(server_);
  server_.create("events", test::podEvent("demo", "web-0.1", "web-0", "pod-uid-1", "Pulled"));
  server_.create("events", test::podEvent("demo", "web-0.2", "web-0", "pod-uid-1", "Started"));
  server_.create("events", test::podEvent("other", "api-0.1", "api-0", "pod-uid-9", "Scheduled"));
  server_.create("events", fireworksEvent("fireworks.1", "Warning", std::nullopt));
  startReceiver(options());
  ASSERT_TRUE(waitRows(4));
  const std::string t = std::string(kDb) + ".otel_logs";
  EXPECT_EQ(count("ResourceAttributes['k8s.event.reason'] != ''"), 4u);
  EXPECT_EQ(count("ResourceAttributes['k8s.pod.name'] = 'web-0'"), 2u);
  // The ClickHouse /events handler's SQL (contract §7).
  auto sql = [&](const std::string& id) {
    return "SELECT JSONExtractString(Body,'object','involvedObject','name') AS obj_name, "
           "JSONExtractString(Body,'object','involvedObject','namespace') AS obj_namespace, "
           "JSONExtractString(Body,'object','involvedObject','uid') AS obj_uid, "
           "JSONExtractString(Body,'object','involvedObject','kind') AS obj_kind, "
           "JSONExtractString(Body,'object','reason') AS reason, JSONExtractString(Body,'object','message') AS message, "
           "JSONExtractString(Body,'object','type') AS type, JSONExtractString(Body,'object','eventTime') AS eventTime, "
           "JSONExtractString(Body,'object','source','component') AS source_component FROM " + t +
           " WHERE ResourceAttributes['telemetry.source'] = 'k8s-events' AND LogAttributes['krateo.io/composition-id'] = '" +
           id + "' AND JSONExtractString(Body,'object','reason') != '' ORDER BY Timestamp DESC LIMIT 50";
  };
  auto pod_rows = rows(*store_, sql("comp-7"));
  ASSERT_EQ(pod_rows.size(), 2u);
  EXPECT_EQ(pod_rows[0]["reason"], "Started");  // newest first
  EXPECT_EQ(pod_rows[0]["obj_name"], "web-0");
  EXPECT_EQ(pod_rows[0]["obj_kind"], "Pod");
  EXPECT_EQ(pod_rows[0]["source_component"], "kubelet");
  auto fw = rows(*store_, sql("fw-uid-1"));
  ASSERT_EQ(fw.size(), 1u);
  EXPECT_EQ(fw[0]["type"], "Warning");
  EXPECT_EQ(fw[0]["obj_kind"], "FireworksApp");
  EXPECT_EQ(fw[0]["obj_uid"], "fw-uid-1");
  EXPECT_EQ(rows(*store_, sql("nope")).size(), 0u);
}

TEST_F(EventsReceiverTest, RestartResumesFromCheckpointWithoutLossOrDuplicates) {
  std::vector<json> events;
  for (int i = 0; i < 20; ++i)
    events.push_back(server_.create("events", test::podEvent("demo", "e." + std::to_string(i), "p", "pod-x")));
  startReceiver(options());
  ASSERT_TRUE(waitRows(20));
  stopReceiver();
  // While kobs is down: counts go up (MODIFIED, twice for some) and new events come.
  for (int i = 0; i < 10; ++i) {
    auto e = *server_.get("events", "demo", "e." + std::to_string(i));
    e["count"] = 2;
    server_.update("events", e);
    if (i < 3) {
      e["count"] = 3;
      server_.update("events", e);
    }
  }
  for (int i = 20; i < 25; ++i) server_.create("events", test::podEvent("demo", "e." + std::to_string(i), "p", "pod-x"));
  auto& rx = startReceiver(options());
  ASSERT_TRUE(waitRows(20 + 13 + 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto pairs = storedPairs();
  EXPECT_EQ(pairs.size(), 38u);
  for (const auto& [k, n] : pairs) EXPECT_EQ(n, 1) << k.first << " " << k.second;
  EXPECT_EQ(rx.watcherStat(&k8s::ListWatcherStats::lists), 0u);  // resumed, no relist needed
}

// A crash-looping kobs dies before its checkpoint catches up with what it
// stored. The restart must resume after the newest watch row in the store,
// not list again (a list shows only each event's newest version, so the
// updates made while it was down would be lost): once with no checkpoint at
// all, once with one older than the store whose version the server has
// compacted away (resuming from it would get 410 and relist).
class CrashBeforeCheckpointTest : public EventsReceiverTest, public ::testing::WithParamInterface<bool> {};

TEST_P(CrashBeforeCheckpointTest, ResumesAfterTheNewestStoredWatchRowWithoutListing) {
  const bool keep_old_checkpoint = GetParam();
  for (int i = 0; i < 5; ++i) server_.create("events", test::podEvent("demo", "c." + std::to_string(i), "p", "pod-x"));
  const auto state = data_.path() / "k8s_events";
  startReceiver(options());
  ASSERT_TRUE(waitRows(5));
  ASSERT_TRUE(waitFor([&] { return !receiver_->ledger().resumeVersion("*").empty(); }));
  const std::string old_checkpoint = state / "checkpoint.json.old";
  std::filesystem::copy_file(state / "checkpoint.json", old_checkpoint);
  auto bump = [&](int i) {
    auto e = *server_.get("events", "demo", "c." + std::to_string(i));
    e["count"] = e["count"].get<int>() + 1;
    server_.update("events", e);
  };
  for (int i = 0; i < 5; ++i) bump(i);
  ASSERT_TRUE(waitRows(10));
  EXPECT_EQ(count("LogAttributes['" + std::string(kWatchAttribute) + "'] = '*'"), 5u);  // the watch rows only
  if (keep_old_checkpoint) server_.compact();  // the old checkpoint's version is now too old
  stopReceiver();
  // The crash: the checkpoint on disk is the old one, or none.
  std::filesystem::remove(state / "checkpoint.json");
  if (keep_old_checkpoint) std::filesystem::rename(old_checkpoint, state / "checkpoint.json");
  // While down: every event is updated twice (the first update is what a
  // list would miss), and two new ones come.
  for (int i = 0; i < 5; ++i) bump(i), bump(i);
  for (int i = 5; i < 7; ++i) server_.create("events", test::podEvent("demo", "c." + std::to_string(i), "p", "pod-x"));
  auto& rx = startReceiver(options());
  ASSERT_TRUE(waitRows(22));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a duplicate would land now
  auto pairs = storedPairs();
  EXPECT_EQ(pairs.size(), 22u);
  for (const auto& [k, n] : pairs) EXPECT_EQ(n, 1) << k.first << " " << k.second;
  EXPECT_EQ(rx.watcherStat(&k8s::ListWatcherStats::lists), 0u);
  EXPECT_EQ(rx.watcherStat(&k8s::ListWatcherStats::relists), 0u);
}

INSTANTIATE_TEST_SUITE_P(Checkpoint, CrashBeforeCheckpointTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "OlderAndCompacted" : "Missing"; });

TEST_F(EventsReceiverTest, EachNamespaceWatchResumesFromItsOwnStoredRowsAfterACrash) {
  for (const char* ns : {"a", "b"}) server_.create("events", test::podEvent(ns, "n.1", "p", std::string("pod-") + ns));
  auto o = options();
  o.namespaces = {"a", "b"};
  auto bump = [&](const std::string& ns) {
    auto e = *server_.get("events", ns, "n.1");
    e["count"] = e["count"].get<int>() + 1;
    server_.update("events", e);
  };
  startReceiver(o);
  ASSERT_TRUE(waitRows(2));
  bump("a"), bump("b"), bump("a");
  ASSERT_TRUE(waitRows(5));
  const std::string attr = "LogAttributes['" + std::string(kWatchAttribute) + "']";
  EXPECT_EQ(count(attr + " = 'a'"), 2u);
  EXPECT_EQ(count(attr + " = 'b'"), 1u);
  stopReceiver();
  std::filesystem::remove(data_.path() / "k8s_events" / "checkpoint.json");  // died before writing it
  bump("b"), bump("b"), bump("a");
  auto& rx = startReceiver(o);
  ASSERT_TRUE(waitRows(8));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto pairs = storedPairs();
  EXPECT_EQ(pairs.size(), 8u);
  for (const auto& [k, n] : pairs) EXPECT_EQ(n, 1) << k.first << " " << k.second;
  EXPECT_EQ(rx.watcherStat(&k8s::ListWatcherStats::lists), 0u);
}

TEST_F(EventsReceiverTest, GoneMidStreamAndApiServerRestartLoseAndRepeatNothing) {
  metrics::Registry reg;
  for (int i = 0; i < 10; ++i) server_.create("events", test::podEvent("demo", "g." + std::to_string(i), "p", "pod-x"));
  auto& rx = startReceiver(options(), &reg);
  ASSERT_TRUE(waitRows(10));
  // The API server goes away; meanwhile events change and history is compacted:
  // the resumed watch gets 410 and the receiver relists.
  server_.stop();
  for (int i = 0; i < 5; ++i) {
    auto e = *server_.get("events", "demo", "g." + std::to_string(i));
    e["count"] = 4;
    server_.update("events", e);
  }
  for (int i = 10; i < 13; ++i) server_.create("events", test::podEvent("demo", "g." + std::to_string(i), "p", "pod-x"));
  server_.compact();
  server_.start();
  ASSERT_TRUE(waitRows(18));
  ASSERT_TRUE(waitFor([&] { return rx.watcherStat(&k8s::ListWatcherStats::relists) >= 1; }));
  // A plain restart (state kept) while events keep coming.
  server_.restart(true);
  for (int i = 13; i < 16; ++i) server_.create("events", test::podEvent("demo", "g." + std::to_string(i), "p", "pod-x"));
  ASSERT_TRUE(waitRows(21));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto pairs = storedPairs();
  EXPECT_EQ(pairs.size(), 21u);
  for (const auto& [k, n] : pairs) EXPECT_EQ(n, 1) << k.first << " " << k.second;
  // Relisted items whose count went up were stored as MODIFIED.
  EXPECT_EQ(count("startsWith(Body, '{\"type\":\"MODIFIED\"')"), 5u);
  EXPECT_GE(rx.stats().duplicates.load(), 5u);  // the unchanged relisted items
  auto text = reg.renderPrometheus();
  EXPECT_NE(text.find("kobs_k8s_events_relists_total{component=\"k8s_events\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("kobs_k8s_events_rows_stored_total{component=\"k8s_events\"} 21"), std::string::npos) << text;
}

TEST_F(EventsReceiverTest, BadInputIsCountedAndSkippedAndTheWatchGoesOn) {
  metrics::Registry reg;
  server_.create("events", test::podEvent("demo", "b.0", "p", "pod-x"));
  auto& rx = startReceiver(options(), &reg);
  ASSERT_TRUE(waitRows(1));
  ASSERT_TRUE(waitFor([&] { return server_.openWatches() > 0; }));
  server_.injectRawLine("events", "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"na");  // truncated
  server_.injectRawLine("events", "this is not json");
  server_.injectErrorEvent("events", 500, "InternalError", "etcd hiccup");
  server_.injectRawLine("events", "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"big\"},\"message\":\"" +
                                      std::string(10u << 20, 'x') + "\"}}");
  json odd = test::podEvent("demo", "b.1", "p", "pod-x");
  odd["unknownTopLevel"] = {{"nested", json::array({1, 2, 3})}};
  odd["involvedObject"]["futureField"] = true;
  server_.create("events", odd);
  server_.create("events", test::podEvent("demo", "b.2", "p", "pod-x"));
  ASSERT_TRUE(waitRows(3));
  // The ListWatcher adds a watch's skipped lines to its counters when the watch ends.
  server_.endAllWatches();
  EXPECT_EQ(count("LogAttributes['k8s.event.name'] = 'b.1' AND position(Body, 'unknownTopLevel') > 0"), 1u);
  EXPECT_TRUE(waitFor([&] {
    return rx.watcherStat(&k8s::ListWatcherStats::bad_lines) >= 2 &&
           rx.watcherStat(&k8s::ListWatcherStats::oversize_lines) >= 1 &&
           rx.watcherStat(&k8s::ListWatcherStats::error_events) >= 1;
  }));
  auto text = reg.renderPrometheus();
  EXPECT_NE(text.find("kobs_k8s_events_bad_lines_total{component=\"k8s_events\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("kobs_k8s_events_error_notifications_total{component=\"k8s_events\"} 1"), std::string::npos);
  EXPECT_EQ(count(), 3u);
}

TEST_F(EventsReceiverTest, FirstStartSkipsEventsOlderThanMaxAge) {
  auto old = test::podEvent("demo", "old.1", "p", "pod-x");
  old["lastTimestamp"] = old["firstTimestamp"] = test::nowRfc3339(std::chrono::hours(3));
  server_.create("events", old);
  server_.create("events", test::podEvent("demo", "new.1", "p", "pod-x"));
  auto o = options();
  o.max_age = std::chrono::hours(1);
  auto& rx = startReceiver(o);
  ASSERT_TRUE(waitRows(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(count(), 1u);
  EXPECT_EQ(rx.stats().skipped_old.load(), 1u);
}

TEST_F(EventsReceiverTest, DeletedIsSkippedUnlessConfigured) {
  server_.create("events", test::podEvent("demo", "d.1", "p", "pod-x"));
  auto o = options();
  auto& rx = startReceiver(o);
  ASSERT_TRUE(waitRows(1));
  server_.remove("events", "demo", "d.1");
  ASSERT_TRUE(waitFor([&] { return rx.stats().skipped_deleted.load() == 1; }));
  stopReceiver();
  server_.create("events", test::podEvent("demo", "d.2", "p", "pod-x"));
  o.store_deleted = true;
  startReceiver(o);
  ASSERT_TRUE(waitRows(2));
  server_.remove("events", "demo", "d.2");
  ASSERT_TRUE(waitRows(1, "startsWith(Body, '{\"type\":\"DELETED\"')"));
}

TEST_F(EventsReceiverTest, OneWatcherPerConfiguredNamespace) {
  server_.create("events", test::podEvent("a", "x.1", "p", "pod-a"));
  server_.create("events", test::podEvent("b", "x.2", "p", "pod-b"));
  server_.create("events", test::podEvent("c", "x.3", "p", "pod-c"));
  auto o = options();
  o.namespaces = {"a", "b"};
  startReceiver(o);
  ASSERT_TRUE(waitRows(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(count(), 2u);
  EXPECT_EQ(count("ResourceAttributes['k8s.namespace.name'] = 'c'"), 0u);
}

TEST_F(EventsReceiverTest, LeaderElectionLetsOneReplicaWatchAndHandsOver) {
  server_.create("events", test::podEvent("demo", "l.1", "p", "pod-x"));
  auto o = options();
  o.leader.enabled = true;
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
  ASSERT_TRUE(waitFor([&] { return b->watching(); }, std::chrono::seconds(10)));
  server_.create("events", test::podEvent("demo", "l.2", "p", "pod-x"));
  ASSERT_TRUE(waitRows(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // B's first start found l.1 in the store (written by A) and did not repeat it.
  auto pairs = storedPairs();
  EXPECT_EQ(pairs.size(), 2u);
  for (const auto& [k, n] : pairs) EXPECT_EQ(n, 1);
  auto lease = server_.get("leases.coordination.k8s.io", "default", "kobs-k8s-events");
  ASSERT_TRUE(lease);
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "replica-b");
  b->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

TEST_F(EventsReceiverTest, NoClusterDoesNotThrowAndKeepsRetrying) {
  auto o = options();
  int attempts = 0;
  o.cluster = [&attempts]() -> k8s::ClusterConfig {
    ++attempts;
    throw Exception(ErrorCode::kBadConfig, "no kubeconfig found");
  };
  auto& rx = startReceiver(o);
  EXPECT_TRUE(waitFor([&] { return attempts >= 3; }));
  EXPECT_FALSE(rx.connected());
  stopReceiver();
}

TEST_F(EventsReceiverTest, DemoFeedStoresTheScenarioThroughTheSameMapping) {
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
