// kubelet_stats from the recorded /stats/summary (data/summary.json, written
// from the kubelet's documented stats/v1alpha1 shape): mapping (names,
// units, values, resource attributes), and the receiver over HTTPS against a
// loopback kubelet stand-in (token, CA, insecure_skip_verify) into the real
// metric tables.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "collect/kubelet_stats/kubelet_stats_receiver.h"
#include "collect/kubelet_stats/summary_mapper.h"
#include "collect/kubelet_stats/kubelet_server.h"  // tests/collect/kubelet_stats
#include "collect/metrics_naming/metrics_stack.h"
#include "collect/metrics_naming/naming_check.h"
#include "common/error.h"
#include "common/rfc3339.h"

namespace kobs::collect::kubelet_stats {
namespace {

using pipeline::MetricPoint;
const std::string kSummaryFile = "tests/collect/kubelet_stats/data/summary.json";
constexpr int64_t kNow = 1772704800LL * 1000000000LL;  // 2026-03-05T10:00:00Z

std::map<std::string, std::string> resourceOf(const MetricPoint& p) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : p.resource->attributes) m[k] = pipeline::asString(v);
  return m;
}

// The points named `name` whose resource includes every pair of `match`.
std::vector<const MetricPoint*> find(const std::vector<MetricPoint>& pts, const std::string& name,
                                     const std::map<std::string, std::string>& match = {},
                                     const std::map<std::string, std::string>& attrs = {}) {
  std::vector<const MetricPoint*> out;
  for (const auto& p : pts) {
    if (p.name != name) continue;
    auto r = resourceOf(p);
    bool ok = true;
    for (const auto& [k, v] : match) ok = ok && r.count(k) && r[k] == v;
    for (const auto& [k, v] : attrs) {
      bool found = false;
      for (const auto& [ak, av] : p.attributes) found = found || (ak == k && pipeline::asString(av) == v);
      ok = ok && found;
    }
    if (ok) out.push_back(&p);
  }
  return out;
}

double value(const std::vector<MetricPoint>& pts, const std::string& name,
             const std::map<std::string, std::string>& match = {},
             const std::map<std::string, std::string>& attrs = {}) {
  auto f = find(pts, name, match, attrs);
  EXPECT_EQ(f.size(), 1u) << name;
  return f.empty() ? NAN : f[0]->value;
}

const std::map<std::string, std::string> kWeb{{"k8s.pod.name", "web-5d8f7c9b6-abcde"}};
const std::map<std::string, std::string> kBackup{{"k8s.pod.name", "backup-28000000-xyz12"}};

TEST(SummaryMapper, NodeMetrics) {
  SummaryMapper m;
  auto pts = m.map(testing::readText(kSummaryFile), kNow);
  const std::map<std::string, std::string> node{{"k8s.node.name", "node-1"}};
  EXPECT_DOUBLE_EQ(value(pts, "k8s.node.cpu.time", node), 987654.321);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.node.cpu.usage", node), 1.25);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.node.memory.working_set", node), 4500000000.0);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.node.memory.available", node), 4000000000.0);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.node.memory.major_page_faults", node), 789);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.node.filesystem.capacity", node), 100000000000.0);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.node.filesystem.usage", node), 45000000000.0);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.node.network.io", node, {{"interface", "eth0"}, {"direction", "receive"}}),
                   111111111);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.node.network.errors", node, {{"direction", "transmit"}}), 2);
  auto t = find(pts, "k8s.node.cpu.time");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(resourceOf(*t[0]), node) << "a node resource carries only its name";
  EXPECT_EQ(t[0]->time_unix_nano, kNow);
  EXPECT_EQ(t[0]->start_time_unix_nano, *rfc3339::parseNanos("2026-03-01T08:00:00Z"));
  EXPECT_TRUE(t[0]->is_monotonic);
  EXPECT_EQ(t[0]->unit, "s");
}

TEST(SummaryMapper, PodContainerAndVolumeMetricsWithResourceAttributes) {
  SummaryMapper m;
  auto pts = m.map(testing::readText(kSummaryFile), kNow);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.pod.cpu.time", kWeb), 3642.0);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.pod.memory.usage", kWeb), 150000000);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.pod.filesystem.usage", kWeb), 61440) << "from ephemeral-storage";
  EXPECT_DOUBLE_EQ(value(pts, "k8s.pod.network.io", kWeb, {{"direction", "transmit"}}), 1234567);
  auto web = find(pts, "k8s.pod.memory.working_set", kWeb);
  ASSERT_EQ(web.size(), 1u);
  EXPECT_EQ(resourceOf(*web[0]), (std::map<std::string, std::string>{
                                     {"k8s.pod.uid", "6a1c7d2e-0f3b-4c5d-9e8f-a1b2c3d4e5f6"},
                                     {"k8s.pod.name", "web-5d8f7c9b6-abcde"},
                                     {"k8s.namespace.name", "krateo-system"},
                                     {"k8s.node.name", "node-1"}}));
  EXPECT_EQ(web[0]->start_time_unix_nano, *rfc3339::parseNanos("2026-03-04T09:30:00Z"));

  auto app = kWeb;
  app["k8s.container.name"] = "app";
  EXPECT_DOUBLE_EQ(value(pts, "container.cpu.time", app), 3600.0);
  EXPECT_DOUBLE_EQ(value(pts, "container.cpu.usage", app), 0.15);
  EXPECT_DOUBLE_EQ(value(pts, "container.memory.rss", app), 100000000);
  EXPECT_DOUBLE_EQ(value(pts, "container.filesystem.usage", app), 40960) << "from rootfs";
  EXPECT_EQ(find(pts, "container.cpu.time", app)[0]->start_time_unix_nano,
            *rfc3339::parseNanos("2026-03-04T09:30:05Z"));
  EXPECT_EQ(find(pts, "container.cpu.time", kWeb).size(), 2u);
  EXPECT_TRUE(find(pts, "container.network.io").empty()) << "containers have no network metrics";

  auto data = kWeb;
  data["k8s.volume.name"] = "data";
  data["k8s.volume.type"] = "persistentVolumeClaim";
  data["k8s.persistentvolumeclaim.name"] = "web-data";
  EXPECT_DOUBLE_EQ(value(pts, "k8s.volume.available", data), 8000000000.0);
  EXPECT_DOUBLE_EQ(value(pts, "k8s.volume.inodes.used", data), 5360);
  auto token = kWeb;
  token["k8s.volume.name"] = "kube-api-access-7xk2p";
  EXPECT_DOUBLE_EQ(value(pts, "k8s.volume.capacity", token), 4000012288.0);
  EXPECT_EQ(resourceOf(*find(pts, "k8s.volume.capacity", token)[0]).count("k8s.persistentvolumeclaim.name"), 0u);

  // Fields the kubelet left out are not emitted (the backup pod has no rss, usageNanoCores, network).
  EXPECT_DOUBLE_EQ(value(pts, "k8s.pod.cpu.time", kBackup), 0.5);
  EXPECT_TRUE(find(pts, "k8s.pod.cpu.usage", kBackup).empty());
  EXPECT_TRUE(find(pts, "k8s.pod.memory.rss", kBackup).empty());
  EXPECT_TRUE(find(pts, "k8s.pod.network.io", kBackup).empty());
  EXPECT_TRUE(find(pts, "container.filesystem.usage", kBackup).empty());
  test::checkNaming("kubeletstats", pts);
}

TEST(SummaryMapper, CompositionIdOnPodContainerAndVolumeResources) {
  SummaryMapper m;
  std::vector<PodRef> asked;
  auto pts = m.map(testing::readText(kSummaryFile), kNow, [&](const PodRef& p) {
    asked.push_back(p);
    return p.name == "web-5d8f7c9b6-abcde" ? std::string("comp-42") : std::string();
  });
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0].uid, "6a1c7d2e-0f3b-4c5d-9e8f-a1b2c3d4e5f6");
  EXPECT_EQ(asked[0].ns, "krateo-system");
  for (const char* name : {"k8s.pod.cpu.time", "container.memory.working_set", "k8s.volume.available"}) {
    for (const auto* p : find(pts, name, kWeb)) {
      EXPECT_EQ(resourceOf(*p)["krateo.io/composition-id"], "comp-42") << name;
      EXPECT_EQ(resourceOf(*p)["krateo.composition.id"], "comp-42") << name;
    }
    for (const auto* p : find(pts, name, kBackup)) EXPECT_EQ(resourceOf(*p).count("krateo.io/composition-id"), 0u);
  }
  EXPECT_EQ(resourceOf(*find(pts, "k8s.node.cpu.time")[0]).count("krateo.io/composition-id"), 0u);
}

TEST(SummaryMapper, GroupsAndBadInput) {
  MapperOptions o;
  o.groups = {"node"};
  SummaryMapper m(o);
  auto pts = m.map(testing::readText(kSummaryFile), kNow);
  for (const auto& p : pts) EXPECT_EQ(p.name.rfind("k8s.node.", 0), 0u) << p.name;
  EXPECT_THROW(m.map("{\"pods\": []}", kNow), Exception);
  EXPECT_THROW(m.map("<html>", kNow), Exception);
  EXPECT_THROW(m.map(R"({"node": {"nodeName": "x")", kNow), Exception);
}

class KubeletStatsReceiverTest : public ::testing::Test {
 protected:
  KubeletStatsOptions options(const testing::KubeletServer& server) {
    KubeletStatsOptions o;
    o.endpoint = server.url();
    o.ca_file = server.caFile();
    o.token_file = dir_.path() / "token";
    std::ofstream(o.token_file) << "kubelet-test-token\n";
    o.interval = std::chrono::milliseconds(200);
    o.start_jitter = false;
    return o;
  }
  kobs::testing::TempDir dir_;
};

TEST_F(KubeletStatsReceiverTest, ScrapesOverTlsWithTheTokenIntoTheMetricTables) {
  testing::KubeletServer server("kubelet-test-token");
  server.setBody(testing::readText(kSummaryFile));
  test::MetricsStack stack("kubelet_stats_rx");
  metrics::Registry registry;
  KubeletStatsReceiver rx(options(server), *stack.pipeline, &registry);
  rx.start();
  ASSERT_TRUE(test::waitFor([&] { return rx.loop().scrapes() >= 2; }, std::chrono::seconds(60)));
  rx.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(rx.loop().failures(), 0u);
  for (const auto& a : server.authorizations()) EXPECT_EQ(a, "Bearer kubelet-test-token");
  stack.drain();
  const std::string gauge = "`kubelet_stats_rx`.`" + stack.table(store::schema::TableKind::kMetricsGauge) + "`";
  const std::string sum = "`kubelet_stats_rx`.`" + stack.table(store::schema::TableKind::kMetricsSum) + "`";
  auto r = stack.rows("SELECT Value, MetricUnit AS unit, ResourceAttributes AS ra FROM " + gauge +
                      " WHERE MetricName = 'container.memory.working_set' AND "
                      "ResourceAttributes['k8s.container.name'] = 'app' LIMIT 1");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_DOUBLE_EQ(r[0]["Value"].get<double>(), 112000000);
  EXPECT_EQ(r[0]["unit"], "By");
  EXPECT_EQ(r[0]["ra"]["k8s.pod.uid"], "6a1c7d2e-0f3b-4c5d-9e8f-a1b2c3d4e5f6");
  EXPECT_EQ(r[0]["ra"]["k8s.namespace.name"], "krateo-system");
  auto s = stack.rows("SELECT count() AS n, any(IsMonotonic) AS mono, any(AggregationTemporality) AS temp, "
                      "toUnixTimestamp(any(StartTimeUnix)) AS start FROM " + sum +
                      " WHERE MetricName = 'k8s.node.cpu.time'");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]["n"].get<uint64_t>(), rx.loop().scrapes());
  EXPECT_EQ(s[0]["mono"].get<bool>(), true);
  EXPECT_EQ(s[0]["temp"].get<int>(), 2);
  EXPECT_EQ(s[0]["start"].get<int64_t>(), *rfc3339::parseNanos("2026-03-01T08:00:00Z") / 1000000000);
}

TEST_F(KubeletStatsReceiverTest, AnUntrustedCertificateFailsTheScrapeUnlessVerificationIsSkipped) {
  testing::KubeletServer server("kubelet-test-token");
  server.setBody(testing::readText(kSummaryFile));
  kobs::testing::TempDir other;
  testing::makeCert(other.path(), "someone-else");
  test::MetricsStack stack("kubelet_stats_tls");
  {
    auto o = options(server);
    o.ca_file = other.path() / "cert.pem";
    KubeletStatsReceiver rx(o, *stack.pipeline, nullptr);
    rx.start();
    ASSERT_TRUE(test::waitFor([&] { return rx.loop().failures() >= 1; }, std::chrono::seconds(60)));
    rx.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    EXPECT_EQ(rx.pointsAccepted(), 0u);
  }
  {
    auto o = options(server);
    o.ca_file.clear();
    o.insecure_skip_verify = true;
    KubeletStatsReceiver rx(o, *stack.pipeline, nullptr);
    rx.start();
    ASSERT_TRUE(test::waitFor([&] { return rx.pointsAccepted() > 0; }, std::chrono::seconds(60)));
    rx.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }
}

TEST_F(KubeletStatsReceiverTest, AWrongTokenOrABadBodyFailsTheScrapeAndTheLoopGoesOn) {
  testing::KubeletServer server("another-token");
  server.setBody(testing::readText(kSummaryFile));
  test::MetricsStack stack("kubelet_stats_bad");
  KubeletStatsReceiver rx(options(server), *stack.pipeline, nullptr);
  rx.start();
  ASSERT_TRUE(test::waitFor([&] { return rx.loop().failures() >= 2; }, std::chrono::seconds(60)));
  rx.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(rx.pointsAccepted(), 0u);

  testing::KubeletServer garbage("kubelet-test-token");
  garbage.setBody("{\"not\": \"a summary\"}");
  KubeletStatsReceiver rx2(options(garbage), *stack.pipeline, nullptr);
  rx2.start();
  ASSERT_TRUE(test::waitFor([&] { return rx2.loop().failures() >= 1; }, std::chrono::seconds(60)));
  garbage.setBody(testing::readText(kSummaryFile));
  ASSERT_TRUE(test::waitFor([&] { return rx2.pointsAccepted() > 0; }, std::chrono::seconds(60)))
      << "a later good answer is scraped";
  rx2.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

}  // namespace
}  // namespace kobs::collect::kubelet_stats
