// EventMapper, EventLedger and checkpoint files: pure unit tests (no store).
#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "collect/k8s_events/checkpoint.h"
#include "collect/k8s_events/event_ledger.h"
#include "collect/k8s_events/event_mapping.h"
#include "common/error.h"
#include "support/fake_kube_apiserver.h"
#include "support/temp_dir.h"

namespace kobs::collect::k8s_events {
namespace {

using pipeline::asString;

std::map<std::string, std::string> attrs(const pipeline::Attributes& a) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : a) out[k] = asString(v);
  return out;
}

std::string podEventJson(bool warning, std::optional<std::string> event_time = std::nullopt) {
  testing::FakeEventSpec s;
  s.ns = "krateo-system";
  s.name = "web-0.17a8c2f3b1e4d5c6";
  s.involved_name = "web-0";
  s.involved_uid = "11111111-2222-4333-8444-555555555555";
  s.involved_field_path = "spec.containers{app}";
  s.involved_resource_version = "4242";
  s.reason = warning ? "BackOff" : "Pulled";
  s.message = warning ? "Back-off restarting failed container" : "Successfully pulled image \"nginx:1.25\"";
  s.type = warning ? "Warning" : "Normal";
  s.source_component = "kubelet";
  s.source_host = "node-1";
  s.count = warning ? 7 : 1;
  s.event_time = event_time;
  auto j = testing::makeEvent(s);
  j["metadata"]["uid"] = "aaaaaaaa-0000-4000-8000-000000000001";
  j["metadata"]["resourceVersion"] = "981";
  j["metadata"]["creationTimestamp"] = "2024-01-01T10:00:00Z";
  j["someFutureField"] = {{"x", 1.50}};
  return j.dump();
}

TEST(EventMapping, PodWarningHasEveryContractAttribute) {
  EventMapper m({"prod-eu", ""});
  const auto obj = podEventJson(true);
  auto r = m.map("MODIFIED", obj, 1764000000123456789, "comp-1");
  EXPECT_EQ(std::get<std::string>(r.body.value), "{\"type\":\"MODIFIED\",\"object\":" + obj + "}");
  EXPECT_EQ(r.time_unix_nano, 1764000000123456789);
  EXPECT_EQ(r.observed_time_unix_nano, 1764000000123456789);
  EXPECT_EQ(r.severity_text, "Warning");
  EXPECT_EQ(r.severity_number, 13);
  std::map<std::string, std::string> want_res = {
      {"k8s.cluster.name", "prod-eu"},
      {"telemetry.source", "k8s-events"},
      {"k8s.namespace.name", "krateo-system"},
      {"k8s.object.kind", "Pod"},
      {"k8s.object.name", "web-0"},
      {"k8s.object.uid", "11111111-2222-4333-8444-555555555555"},
      {"k8s.object.api_version", "v1"},
      {"k8s.object.resource_version", "4242"},
      {"k8s.object.fieldpath", "spec.containers{app}"},
      {"k8s.event.reason", "BackOff"},
      {"k8s.node.name", "node-1"},
      {"k8s.pod.name", "web-0"},
      {"krateo.composition.id", "comp-1"},
  };
  EXPECT_EQ(attrs(r.resource->attributes), want_res);
  std::map<std::string, std::string> want_log = {
      {"krateo.io/composition-id", "comp-1"},
      {"k8s.event.reason", "BackOff"},
      {"k8s.event.action", ""},
      {"k8s.event.name", "web-0.17a8c2f3b1e4d5c6"},
      {"k8s.event.uid", "aaaaaaaa-0000-4000-8000-000000000001"},
      {"k8s.event.count", "7"},
      {"k8s.event.start_time", "2024-01-01 10:00:00 +0000 UTC"},
      {"k8s.resource.name", "events"},
      {"event.domain", "k8s"},
      {"event.name", "web-0.17a8c2f3b1e4d5c6"},
  };
  EXPECT_EQ(attrs(r.attributes), want_log);
}

TEST(EventMapping, CustomResourceNormalWithoutCompositionOrCluster) {
  testing::FakeEventSpec s;
  s.ns = "demo-system";
  s.name = "fireworks.1";
  s.involved_api_version = "composition.krateo.io/v1-2-0";
  s.involved_kind = "FireworksApp";
  s.involved_name = "fireworks";
  s.involved_uid = "c0c0c0c0-0000-4000-8000-000000000001";
  s.reason = "CreatedExternalResource";
  s.source_component = "composition-dynamic-controller";
  s.count = 0;
  s.event_time = "2024-05-01T10:00:00.123456Z";
  s.action = "Reconcile";
  EventMapper m;
  auto r = m.map("ADDED", testing::makeEvent(s).dump(), 1);
  auto res = attrs(r.resource->attributes);
  EXPECT_EQ(res.count("k8s.pod.name"), 0u);
  EXPECT_EQ(res.count("k8s.node.name"), 0u);
  EXPECT_EQ(res.count("k8s.cluster.name"), 0u);
  EXPECT_EQ(res.count("service.name"), 0u);
  EXPECT_EQ(res.count("krateo.composition.id"), 0u);
  EXPECT_EQ(res["k8s.object.kind"], "FireworksApp");
  EXPECT_EQ(res["k8s.object.api_version"], "composition.krateo.io/v1-2-0");
  auto log = attrs(r.attributes);
  EXPECT_EQ(log.count("k8s.event.count"), 0u);  // zero count is left out
  EXPECT_EQ(log.count("krateo.io/composition-id"), 0u);
  EXPECT_EQ(log["k8s.event.action"], "Reconcile");
  EXPECT_EQ(r.severity_number, 9);
  EXPECT_EQ(m.parse(testing::makeEvent(s).dump()).last_time_ns, parseRfc3339Nanos("2024-05-01T10:00:00.123456Z"));
}

TEST(EventMapping, SeverityIsCaseInsensitive) {
  EXPECT_EQ(severityNumberFor("Normal"), 9);
  EXPECT_EQ(severityNumberFor("WARNING"), 13);
  EXPECT_EQ(severityNumberFor("error"), 17);
  EXPECT_EQ(severityNumberFor("Critical"), 21);
  EXPECT_EQ(severityNumberFor("Info"), 0);
  EXPECT_EQ(severityNumberFor(""), 0);
}

TEST(EventMapping, GoTimeStringMatchesGo) {
  EXPECT_EQ(goTimeString("2024-01-01T10:00:00Z"), "2024-01-01 10:00:00 +0000 UTC");
  EXPECT_EQ(goTimeString("2024-01-01T10:00:00.120Z"), "2024-01-01 10:00:00.12 +0000 UTC");
  EXPECT_EQ(goTimeString("2024-01-01T12:00:00+02:00"), "2024-01-01 10:00:00 +0000 UTC");
  EXPECT_EQ(goTimeString(""), "0001-01-01 00:00:00 +0000 UTC");
  EXPECT_THROW(parseRfc3339Nanos("yesterday"), Exception);
}

// A core/v1 Event as newer components write it (the events.k8s.io/v1
// recorder seen through core/v1): eventTime and series instead of
// lastTimestamp and count.
TEST(EventMapping, CoreV1EventWithSeriesAndEventTime) {
  nlohmann::json e = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", "x.1"}, {"namespace", "ns1"}, {"uid", "u-1"}, {"resourceVersion", "7"},
                    {"creationTimestamp", "2024-02-03T04:05:06Z"}}},
      {"eventTime", "2024-02-03T04:05:06.000001Z"},
      {"series", {{"count", 3}, {"lastObservedTime", "2024-02-03T04:09:00.000001Z"}}},
      {"involvedObject", {{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", "p"}, {"namespace", "ns1"}, {"uid", "pod-uid"}}},
      {"message", "Started container"},
      {"reason", "Started"},
      {"type", "Normal"},
      {"action", "Starting"},
      {"reportingComponent", "kubelet"},
      {"reportingInstance", "n9"},
      {"source", {{"host", "n9"}}},
  };
  EventMapper m;
  const auto& parsed = m.parse(e.dump());
  EXPECT_EQ(parsed.last_time_ns, parseRfc3339Nanos("2024-02-03T04:05:06.000001Z"));  // eventTime first
  EXPECT_EQ(parsed.count, 3);
  auto r = m.map("ADDED", e.dump(), 5);
  auto res = attrs(r.resource->attributes);
  EXPECT_EQ(res["k8s.pod.name"], "p");
  EXPECT_EQ(res["k8s.object.uid"], "pod-uid");
  EXPECT_EQ(res["k8s.node.name"], "n9");
  auto log = attrs(r.attributes);
  EXPECT_EQ(log["k8s.event.count"], "3");
  EXPECT_EQ(log["k8s.event.action"], "Starting");
  nlohmann::json without_event_time = e;
  without_event_time.erase("eventTime");
  EXPECT_EQ(m.parse(without_event_time.dump()).last_time_ns, parseRfc3339Nanos("2024-02-03T04:09:00.000001Z"));
}

TEST(EventMapping, NonJsonObjectThrowsBadInput) {
  EventMapper m;
  try {
    m.parse("{\"metadata\": tru");
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadInput);
  }
  EXPECT_THROW(m.parse("[1,2]"), Exception);
}

// --- ledger -------------------------------------------------------------

LedgerEntry row(std::string uid, std::string rv, std::string resume) {
  LedgerEntry e;
  e.watch = "*";
  e.uid = std::move(uid);
  e.rv = std::move(rv);
  e.resume_rv = std::move(resume);
  e.last_time_ns = 1;
  e.observed_ns = 100;
  return e;
}

TEST(EventLedger, ResumeAdvancesOnlyInOrderOfCommits) {
  EventLedger l;
  auto t1 = l.begin(row("a", "10", "10"));
  auto t2 = l.begin(row("b", "11", "11"));
  EXPECT_TRUE(l.seen("a", "10"));  // in flight
  l.complete(t2, true);            // out of order: nothing applies yet
  EXPECT_EQ(l.resumeVersion("*"), "");
  EXPECT_FALSE(l.knownUid("b"));
  l.complete(t1, true);
  EXPECT_EQ(l.resumeVersion("*"), "11");
  EXPECT_TRUE(l.seen("a", "10"));
  EXPECT_TRUE(l.seen("b", "11"));
  EXPECT_FALSE(l.seen("b", "12"));
  EXPECT_EQ(l.counts().rows_committed, 2u);
}

TEST(EventLedger, MarkersWaitForEarlierRowsAndDeletesForget) {
  EventLedger l;
  auto t = l.begin(row("a", "10", "10"));
  LedgerEntry del = row("a", "12", "12");
  del.deleted = true;
  l.marker(del);
  EXPECT_EQ(l.resumeVersion("*"), "");
  l.complete(t, true);
  EXPECT_EQ(l.resumeVersion("*"), "12");
  EXPECT_FALSE(l.knownUid("a"));
}

TEST(EventLedger, KeepsOnlyVersionsAWatchCanResend) {
  EventLedger l;
  l.addStored("a", "20", 1);  // found in the store at recovery, beyond the resume version
  l.addStored("a", "22", 1);
  l.complete(l.begin(row("a", "21", "21")), true);
  EXPECT_TRUE(l.seen("a", "22"));  // > resume: may be re-sent
  EXPECT_FALSE(l.seen("a", "20"));  // <= resume and not the newest: pruned
  l.complete(l.begin(row("a", "25", "25")), true);
  EXPECT_TRUE(l.seen("a", "25"));
  EXPECT_FALSE(l.seen("a", "22"));
}

TEST(EventLedger, ResumeOnlyMovesForwardWhateverRaisesIt) {
  EventLedger l;
  EXPECT_TRUE(l.raiseResume("*", "50"));  // a list's rows reached the disk buffer
  auto t = l.begin(row("a", "40", "40"));  // a row added before the list, committed after it
  l.complete(t, true);
  EXPECT_EQ(l.resumeVersion("*"), "50");
  EXPECT_FALSE(l.raiseResume("*", "9"));   // numerically older, though longer as text would sort after
  EXPECT_TRUE(l.raiseResume("*", "100"));  // the newest watch row found in the store
  EXPECT_EQ(l.resumeVersion("*"), "100");
  EXPECT_EQ(l.resumeVersion("ns-a"), "");  // per watch
  EXPECT_FALSE(l.raiseResume("*", ""));
  // Versions that are not numbers cannot be ordered: the latest reported wins.
  EXPECT_TRUE(l.raiseResume("x", "opaque-1"));
  EXPECT_TRUE(l.raiseResume("x", "opaque-0"));
  EXPECT_EQ(l.resumeVersion("x"), "opaque-0");
  EXPECT_NE(l.checkpointJson().find("\"*\":\"100\""), std::string::npos);
}

TEST(EventLedger, AbortAndDropInFlight) {
  EventLedger l;
  auto t1 = l.begin(row("a", "1", "1"));
  l.abort(t1);
  EXPECT_FALSE(l.seen("a", "1"));
  EXPECT_EQ(l.pending(), 0u);
  auto t2 = l.begin(row("b", "2", "2"));
  l.dropInFlight();
  EXPECT_FALSE(l.seen("b", "2"));
  l.complete(t2, true);  // a late commit still counts as stored, without moving the resume version
  EXPECT_TRUE(l.seen("b", "2"));
  EXPECT_EQ(l.resumeVersion("*"), "");
}

TEST(EventLedger, PruneByAge) {
  EventLedger l;
  l.addStored("old", "1", 100);
  l.addStored("new", "2", 1000);
  EXPECT_EQ(l.pruneOlderThan(500), 1u);
  EXPECT_FALSE(l.knownUid("old"));
  EXPECT_TRUE(l.knownUid("new"));
}

TEST(Checkpoint, RoundTripsAndRejectsGarbage) {
  testing::TempDir dir;
  CheckpointState s;
  s.resume["*"] = "123";
  s.committed_observed_ns = 42;
  s.events["u"] = {{"1", "2"}, 7};
  kobs::writeFileAtomically(dir.path() / "cp.json", checkpointToJson(s));
  auto back = loadCheckpoint(dir.path() / "cp.json");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->resume.at("*"), "123");
  EXPECT_EQ(back->committed_observed_ns, 42);
  EXPECT_EQ(back->events.at("u").resource_versions, (std::vector<std::string>{"1", "2"}));
  EXPECT_FALSE(loadCheckpoint(dir.path() / "missing.json"));
  EXPECT_THROW(checkpointFromJson("{\"version\":99}"), Exception);
  EXPECT_THROW(checkpointFromJson("not json"), Exception);
  EXPECT_EQ(compareResourceVersions("9", "10"), -1);
  EXPECT_EQ(compareResourceVersions("10", "10"), 0);
  EXPECT_FALSE(compareResourceVersions("abc", "10"));
}

}  // namespace
}  // namespace kobs::collect::k8s_events
