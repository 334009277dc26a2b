// Issue 15 figures (node, kubelet and cluster metrics), one core:
//   BM_KubeletSummaryScrape   a node with 200 pods x 3 containers (2 volumes each): /stats/summary JSON
//                             parse + map to points + RowBinary encode (target <= 5 ms CPU per scrape)
//   BM_K8sClusterEmit         the k8s_cluster watch cache with 10,000 pods (+ 100 nodes with every
//                             allocatable type reported, 500 deployments, replicasets and HPAs, 50
//                             namespaces each with a 4-resource quota, 50 cronjobs, 10 replication
//                             controllers): emit + encode (target <= 50 ms CPU)
//   BM_K8sClusterList         filling that cache from a list of 10,000 pods (once per relist)
//   BM_HostMetricsScrape      this machine's /proc: scrape + encode
// Counters: points per scrape, and rss_mb: the process's resident set after the case ran (the embedded
// store that gives the encoders their columns is open in the same process), state_mb: what the case's
// own data (summary text + mapper, or the cluster cache) added to it.
// Run: build/release/bench/metrics/bench_metrics (needs libchdb, see setup.sh).
//
// Figures (medians of 5, CPU of the benchmark thread): docs/performance.md and
// docs/bench-results/bench_metrics.txt. BM_K8sClusterEmit/1 is measured alone in its process: an earlier
// case that grew the heap hides the page faults of a first emission's ~30 MB of points.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "collect/host_metrics/host_scraper.h"
#include "collect/k8s_cluster/cluster_state.h"
#include "collect/kubelet_stats/summary_mapper.h"
#include "pipeline/otel_encoders.h"
#include "pipeline/targets.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

namespace {

using namespace kobs;
using json = nlohmann::json;

std::filesystem::path benchDir() {
  static std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("kobs-bench-metrics-" + std::to_string(::getpid()));
  return dir;
}

// Encoders for the gauge and sum tables as kobs's schema creates them.
struct Encoders {
  std::unique_ptr<store::EmbeddedStore> store;
  std::unique_ptr<pipeline::MetricEncoder> gauge, sum;
};

Encoders*& encodersSlot() {
  static Encoders* e = nullptr;
  return e;
}

Encoders& encoders() {
  auto*& e = encodersSlot();
  if (!e) {
    auto* out = new Encoders;
    store::EmbeddedOptions o;
    o.data_dir = (benchDir() / "chdb").string();
    o.database = "bench_metrics";
    out->store = std::make_unique<store::EmbeddedStore>(o);
    store::schema::SchemaOptions so;
    so.database = "bench_metrics";
    auto targets = pipeline::targetsFromSchema(store::schema::SchemaManager::apply(*out->store, so));
    const auto& g = targets.metrics.at(pipeline::MetricType::kGauge);
    const auto& s = targets.metrics.at(pipeline::MetricType::kSum);
    out->gauge = std::make_unique<pipeline::MetricEncoder>(g.table, g.columns,
                                                           pipeline::metricBindings(pipeline::MetricType::kGauge));
    out->sum = std::make_unique<pipeline::MetricEncoder>(s.table, s.columns,
                                                         pipeline::metricBindings(pipeline::MetricType::kSum));
    e = out;
  }
  return *e;
}

size_t encode(const std::vector<pipeline::MetricPoint>& pts, std::string& g, std::string& s, bool cached = true) {
  auto& e = encoders();
  g.clear();
  s.clear();
  // One cache per table per scrape, as the batcher keeps one per add().
  pipeline::ResourceCache gc, sc;
  if (!cached) {
    for (const auto& p : pts) (p.type == pipeline::MetricType::kSum ? *e.sum : *e.gauge).encode(p, p.type == pipeline::MetricType::kSum ? s : g);
    return g.size() + s.size();
  }
  for (const auto& p : pts) {
    if (p.type == pipeline::MetricType::kSum) e.sum->encode(p, s, sc);
    else e.gauge->encode(p, g, gc);
  }
  return g.size() + s.size();
}

double rssMb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return double(resident) * double(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

json fsStats(uint64_t used) {
  return {{"time", "2026-03-05T10:00:00Z"}, {"availableBytes", 50000000000ull}, {"capacityBytes", 100000000000ull},
          {"usedBytes", used}, {"inodesFree", 6000000}, {"inodes", 6553600}, {"inodesUsed", 1200}};
}
json cpu(uint64_t nano) {
  return {{"time", "2026-03-05T10:00:00Z"}, {"usageNanoCores", nano / 1000}, {"usageCoreNanoSeconds", nano}};
}
json memory(uint64_t ws) {
  return {{"time", "2026-03-05T10:00:00Z"}, {"availableBytes", 500000000}, {"usageBytes", ws + 20000000},
          {"workingSetBytes", ws}, {"rssBytes", ws - 10000000}, {"pageFaults", 12345}, {"majorPageFaults", 12}};
}
json network(uint64_t rx) {
  json iface = {{"name", "eth0"}, {"rxBytes", rx}, {"rxErrors", 0}, {"txBytes", rx / 2}, {"txErrors", 0}};
  json n = iface;
  n["time"] = "2026-03-05T10:00:00Z";
  n["interfaces"] = json::array({iface});
  return n;
}

// A kubelet summary of one node: `pods` pods of `containers` containers and 2 volumes each.
std::string summaryJson(int pods, int containers) {
  json s;
  s["node"] = {{"nodeName", "node-1"}, {"startTime", "2026-03-01T08:00:00Z"}, {"cpu", cpu(987654321000000)},
               {"memory", memory(4500000000)}, {"network", network(111111111)}, {"fs", fsStats(45000000000)},
               {"systemContainers", json::array({{{"name", "kubelet"}, {"startTime", "2026-03-01T08:00:00Z"},
                                                   {"cpu", cpu(86400000000000)}, {"memory", memory(60000000)}}})}};
  s["pods"] = json::array();
  for (int p = 0; p < pods; ++p) {
    json pod;
    char uid[40];
    std::snprintf(uid, sizeof uid, "6a1c7d2e-0f3b-4c5d-9e8f-%012d", p);
    pod["podRef"] = {{"name", "web-5d8f7c9b6-" + std::to_string(10000 + p)}, {"namespace", "team-" + std::to_string(p % 20)},
                     {"uid", uid}};
    pod["startTime"] = "2026-03-04T09:30:00Z";
    pod["containers"] = json::array();
    for (int c = 0; c < containers; ++c)
      pod["containers"].push_back({{"name", "container-" + std::to_string(c)}, {"startTime", "2026-03-04T09:30:05Z"},
                                   {"cpu", cpu(3600000000000ull + c)}, {"memory", memory(112000000 + c)},
                                   {"rootfs", fsStats(40960)}, {"logs", fsStats(8192)}});
    pod["cpu"] = cpu(3642000000000ull);
    pod["memory"] = memory(128000000);
    pod["network"] = network(7654321);
    pod["volume"] = json::array({fsStats(2000000000), fsStats(12288)});
    pod["volume"][0]["name"] = "data";
    pod["volume"][0]["pvcRef"] = {{"name", "data-" + std::to_string(p)}, {"namespace", "team"}};
    pod["volume"][1]["name"] = "kube-api-access-7xk2p";
    pod["ephemeral-storage"] = fsStats(61440);
    s["pods"].push_back(std::move(pod));
  }
  return s.dump();
}

void BM_KubeletSummaryScrape(benchmark::State& state) {
  encoders();
  const double before = rssMb();
  const std::string body = summaryJson(200, 3);
  collect::kubelet_stats::SummaryMapper mapper;
  std::string g, s;
  size_t points = 0, bytes = 0;
  for (auto _ : state) {
    auto pts = mapper.map(body, 1772704800LL * 1000000000LL);
    bytes = encode(pts, g, s);
    points = pts.size();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["points"] = double(points);
  state.counters["json_kb"] = double(body.size()) / 1024.0;
  state.counters["rowbinary_kb"] = double(bytes) / 1024.0;
  state.counters["rss_mb"] = rssMb();
  state.counters["state_mb"] = rssMb() - before;
}
BENCHMARK(BM_KubeletSummaryScrape)->Unit(benchmark::kMillisecond);

std::string podJson(int i, int nodes) {
  const std::string rs = "web-" + std::to_string(i % 500) + "-5d8f7c9b6";
  char uid[40];
  std::snprintf(uid, sizeof uid, "7b2d8e3f-1a4c-4d6e-8f9a-%012d", i);
  json pod = {
      {"metadata", {{"name", rs + "-" + std::to_string(i)}, {"namespace", "team-" + std::to_string(i % 50)},
                    {"uid", uid}, {"labels", {{"app", "web"}, {"pod-template-hash", "5d8f7c9b6"}}},
                    {"ownerReferences", json::array({{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", rs},
                                                      {"uid", "rs-uid"}, {"controller", true}}})}}},
      {"spec", {{"nodeName", "node-" + std::to_string(i % nodes)},
                {"containers", json::array({{{"name", "app"}, {"image", "registry.local/team/web:1." + std::to_string(i % 7)},
                                             {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}},
                                                            {"limits", {{"cpu", "500m"}, {"memory", "256Mi"}}}}}}})}}},
      {"status", {{"phase", "Running"},
                  {"containerStatuses", json::array({{{"name", "app"}, {"ready", true}, {"restartCount", i % 3},
                                                      {"image", "registry.local/team/web:1.0"}, {"imageID", ""},
                                                      {"containerID", "containerd://" + std::string(uid)}}})}}}};
  return pod.dump();
}

struct Cluster {
  std::vector<std::string> pods, nodes, namespaces, deployments, replicasets, hpas, cronjobs, quotas, rcs;
};

const Cluster& cluster() {
  static const Cluster c = [] {
    Cluster c;
    for (int i = 0; i < 10000; ++i) c.pods.push_back(podJson(i, 100));
    for (int i = 0; i < 100; ++i)
      c.nodes.push_back(json({{"metadata", {{"name", "node-" + std::to_string(i)}, {"uid", "node-uid-" + std::to_string(i)}}},
                              {"status", {{"conditions", json::array({{{"type", "Ready"}, {"status", "True"}},
                                                                      {{"type", "MemoryPressure"}, {"status", "False"}}})},
                                          {"allocatable", {{"cpu", "7800m"}, {"memory", "32Gi"},
                                                           {"ephemeral-storage", "95Gi"}, {"pods", "110"}}}}}})
                            .dump());
    for (int i = 0; i < 50; ++i)
      c.namespaces.push_back(json({{"metadata", {{"name", "team-" + std::to_string(i)}, {"uid", "ns-" + std::to_string(i)}}},
                                   {"status", {{"phase", "Active"}}}}).dump());
    for (int i = 0; i < 500; ++i) {
      json meta = {{"name", "web-" + std::to_string(i)}, {"namespace", "team-" + std::to_string(i % 50)},
                   {"uid", "d-" + std::to_string(i)}, {"labels", {{"krateo.io/composition-id", "comp-" + std::to_string(i % 40)}}}};
      c.deployments.push_back(json({{"metadata", meta}, {"spec", {{"replicas", 20}}}, {"status", {{"availableReplicas", 20}}}}).dump());
      meta["name"] = "web-" + std::to_string(i) + "-5d8f7c9b6";
      meta["uid"] = "rs-" + std::to_string(i);
      c.replicasets.push_back(json({{"metadata", meta}, {"spec", {{"replicas", 20}}}, {"status", {{"availableReplicas", 20}}}}).dump());
      meta["name"] = "web-" + std::to_string(i);
      meta["uid"] = "hpa-" + std::to_string(i);
      c.hpas.push_back(json({{"metadata", meta},
                             {"spec", {{"minReplicas", 2}, {"maxReplicas", 30},
                                       {"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", meta["name"]}}}}},
                             {"status", {{"currentReplicas", 20}, {"desiredReplicas", 20}}}}).dump());
    }
    const json quota = {{"requests.cpu", "40"}, {"limits.cpu", "80"}, {"requests.memory", "64Gi"}, {"pods", "400"}};
    for (int i = 0; i < 50; ++i) {
      const std::string ns = "team-" + std::to_string(i);
      c.quotas.push_back(json({{"metadata", {{"name", "quota"}, {"namespace", ns}, {"uid", "rq-" + std::to_string(i)}}},
                               {"status", {{"hard", quota},
                                           {"used", {{"requests.cpu", "20"}, {"limits.cpu", "100"}, {"requests.memory", "50Gi"}, {"pods", "200"}}}}}}).dump());
      c.cronjobs.push_back(json({{"metadata", {{"name", "nightly"}, {"namespace", ns}, {"uid", "cj-" + std::to_string(i)},
                                               {"labels", {{"krateo.io/composition-id", "comp-" + std::to_string(i % 40)}}}}},
                                 {"spec", {{"schedule", "0 3 * * *"}}},
                                 {"status", {{"active", json::array({{{"kind", "Job"}, {"name", "nightly-1"}}})}}}}).dump());
    }
    for (int i = 0; i < 10; ++i)
      c.rcs.push_back(json({{"metadata", {{"name", "legacy-" + std::to_string(i)}, {"namespace", "team-" + std::to_string(i)},
                                          {"uid", "rc-" + std::to_string(i)}}},
                            {"spec", {{"replicas", 2}}}, {"status", {{"availableReplicas", 2}}}}).dump());
    return c;
  }();
  return c;
}

// Every metric on, allocatable types included (off by default, as in the collector).
collect::k8s_cluster::StateOptions stateOptions() {
  collect::k8s_cluster::StateOptions o;
  o.allocatable_types = {"cpu", "memory", "ephemeral-storage", "storage", "pods"};
  return o;
}

void fill(collect::k8s_cluster::ClusterState& st) {
  using collect::k8s_cluster::Kind;
  const auto& c = cluster();
  st.replace(Kind::kPod, c.pods);
  st.replace(Kind::kNode, c.nodes);
  st.replace(Kind::kNamespace, c.namespaces);
  st.replace(Kind::kDeployment, c.deployments);
  st.replace(Kind::kReplicaSet, c.replicasets);
  st.replace(Kind::kHpa, c.hpas);
  st.replace(Kind::kCronJob, c.cronjobs);
  st.replace(Kind::kResourceQuota, c.quotas);
  st.replace(Kind::kReplicationController, c.rcs);
  for (auto k : {Kind::kStatefulSet, Kind::kDaemonSet, Kind::kJob}) st.replace(k, {});
}

// arg 1: the encoder's per-resource cache on (as the batcher encodes); 0: off (before the cache).
void BM_K8sClusterEmit(benchmark::State& state) {
  const bool cached = state.range(0) != 0;
  encoders();
  cluster();
  const double before = rssMb();
  collect::k8s_cluster::ClusterState st(stateOptions());
  fill(st);
  // Composition ids as the resolver's cache answers them once warm (pods owned through a labelled deployment).
  std::unordered_map<std::string, std::string> cache;  // as the resolver's cache answers, once warm
  for (int i = 0; i < 10000; ++i) {
    char uid[40];
    std::snprintf(uid, sizeof uid, "7b2d8e3f-1a4c-4d6e-8f9a-%012d", i);
    cache[uid] = "comp-" + std::to_string((i % 500) % 40);
  }
  collect::k8s_cluster::CompositionLookup lookup = [&](const collect::k8s_cluster::ObjectKey& k) {
    auto it = cache.find(k.uid);
    return it == cache.end() ? std::string() : it->second;
  };
  std::string g, s;
  size_t points = 0;
  std::vector<pipeline::MetricPoint> pts;  // reused across emissions, as the receiver does
  for (auto _ : state) {
    st.emit(1772704800LL * 1000000000LL, 1772700000LL * 1000000000LL, lookup, pts);
    benchmark::DoNotOptimize(encode(pts, g, s, cached));
    points = pts.size();
  }
  state.counters["points"] = double(points);
  state.counters["rss_mb"] = rssMb();
  state.counters["state_mb"] = rssMb() - before;
}
BENCHMARK(BM_K8sClusterEmit)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The encoding alone of one 10,000-pod emission (arg 1: per-resource cache on, 0: off).
void BM_K8sClusterEncode(benchmark::State& state) {
  encoders();
  cluster();
  collect::k8s_cluster::ClusterState st(stateOptions());
  fill(st);
  auto pts = st.emit(1772704800LL * 1000000000LL, 1772700000LL * 1000000000LL, {});
  std::string g, s;
  for (auto _ : state) benchmark::DoNotOptimize(encode(pts, g, s, state.range(0) != 0));
  state.counters["points"] = double(pts.size());
  state.counters["bytes"] = double(g.size() + s.size());
}
BENCHMARK(BM_K8sClusterEncode)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The same without the RowBinary encoding (what the component itself does; the batcher encodes).
void BM_K8sClusterEmitOnly(benchmark::State& state) {
  collect::k8s_cluster::ClusterState st(stateOptions());
  fill(st);
  std::unordered_map<std::string, std::string> cache;  // as the resolver's cache answers, once warm
  for (int i = 0; i < 10000; ++i) {
    char uid[40];
    std::snprintf(uid, sizeof uid, "7b2d8e3f-1a4c-4d6e-8f9a-%012d", i);
    cache[uid] = "comp-" + std::to_string((i % 500) % 40);
  }
  collect::k8s_cluster::CompositionLookup lookup = [&](const collect::k8s_cluster::ObjectKey& k) {
    auto it = cache.find(k.uid);
    return it == cache.end() ? std::string() : it->second;
  };
  std::vector<pipeline::MetricPoint> pts;  // reused across emissions, as the receiver does
  for (auto _ : state) {
    st.emit(1772704800LL * 1000000000LL, 1772700000LL * 1000000000LL, lookup, pts);
    benchmark::DoNotOptimize(pts.data());
  }
}
BENCHMARK(BM_K8sClusterEmitOnly)->Unit(benchmark::kMillisecond);

void BM_K8sClusterList(benchmark::State& state) {
  const auto& c = cluster();
  for (auto _ : state) {
    collect::k8s_cluster::ClusterState st;
    st.replace(collect::k8s_cluster::Kind::kPod, c.pods);
    benchmark::DoNotOptimize(st.size(collect::k8s_cluster::Kind::kPod));
  }
  state.counters["pods"] = double(c.pods.size());
}
BENCHMARK(BM_K8sClusterList)->Unit(benchmark::kMillisecond);

void BM_HostMetricsScrape(benchmark::State& state) {
  encoders();
  collect::host_metrics::HostScraper scraper({});
  std::string g, s;
  size_t points = 0;
  for (auto _ : state) {
    auto pts = scraper.scrape(1772704800LL * 1000000000LL);
    benchmark::DoNotOptimize(encode(pts, g, s));
    points = pts.size();
  }
  state.counters["points"] = double(points);
}
BENCHMARK(BM_HostMetricsScrape)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Close the embedded store before its files go, not from an exit handler while its threads run.
  delete encodersSlot();
  std::filesystem::remove_all(benchDir());
  return 0;
}
