// k8s_cluster against a real kube-apiserver: a deployment scaled, a pod's
// restart count changed through the status subresource (there is no kubelet),
// a node's Ready condition flipped, each reflected in the next emission; one
// emitting replica through the Lease; cronjobs, HPAs, resource quotas,
// replication controllers and node allocatable as the collector emits them,
// per-metric switches (the optional status reason and node condition off
// unless enabled), and a kind the service account may not list. Also
// kubelet_stats' composition ids resolved through the same real API server.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "collect/k8s_cluster/cluster_state.h"
#include "collect/k8s_cluster/k8s_cluster_receiver.h"
#include "collect/kubelet_stats/kubelet_server.h"
#include "collect/kubelet_stats/kubelet_stats_receiver.h"
#include "collect/metrics_naming/metrics_stack.h"
#include "collect/metrics_naming/naming_check.h"
#include "support/real_apiserver.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::collect::k8s_cluster {
namespace {

using json = nlohmann::json;
using pipeline::MetricPoint;
using test::waitFor;

kobs::testing::RealApiServer& server() { return kobs::testing::RealApiServerEnvironment::server(); }

std::map<std::string, std::string> resourceOf(const MetricPoint& p) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : p.resource->attributes) m[k] = pipeline::asString(v);
  return m;
}

std::vector<MetricPoint> matching(std::vector<MetricPoint> pts, const std::string& name,
                                  const std::map<std::string, std::string>& match) {
  std::vector<MetricPoint> out;
  for (auto& p : pts) {
    if (p.name != name) continue;
    auto r = resourceOf(p);
    bool ok = true;
    for (const auto& [k, v] : match) ok = ok && r.count(k) && r[k] == v;
    if (ok) out.push_back(std::move(p));
  }
  return out;
}

// The value the watch cache would emit now (NaN when absent).
double cached(const K8sClusterReceiver& rx, const std::string& name, const std::map<std::string, std::string>& match) {
  auto pts = matching(rx.state().emit(1, 1), name, match);
  return pts.size() == 1 ? pts[0].value : NAN;
}

K8sClusterOptions options(std::chrono::milliseconds interval = std::chrono::milliseconds(300)) {
  K8sClusterOptions o;
  k8s::ResolveOptions ro;
  ro.kubeconfig = server().kubeconfig().string();
  o.cluster = [ro] { return k8s::resolveClusterConfig(ro); };
  o.interval = interval;
  o.start_jitter = false;
  o.resolver.api_calls_per_second = 0;
  return o;
}

class K8sClusterTest : public ::testing::Test {
 protected:
  // The newest stored value of a gauge for a resource, from the real table.
  std::optional<double> stored(test::MetricsStack& stack, const std::string& db, const std::string& metric,
                               const std::string& attr, const std::string& value) {
    auto r = stack.rows("SELECT Value FROM `" + db + "`.`" + stack.table(store::schema::TableKind::kMetricsGauge) +
                        "` WHERE MetricName = '" + metric + "' AND ResourceAttributes['" + attr + "'] = '" + value +
                        "' ORDER BY TimeUnix DESC LIMIT 1");
    if (r.empty()) return std::nullopt;
    return r[0]["Value"].get<double>();
  }

  // Waits until the watch cache shows `want`, then for the emission after
  // that, and checks the store holds it as the newest value.
  void expectNextEmission(test::MetricsStack& stack, const std::string& db, K8sClusterReceiver& rx,
                          const std::string& metric, const std::map<std::string, std::string>& match, double want,
                          const std::string& attr, const std::string& value) {
    ASSERT_TRUE(waitFor([&] { return cached(rx, metric, match) == want; }, std::chrono::seconds(60)))
        << metric << " never reached " << want << " in the watch cache";
    // +2: an emission already running when the cache changed may still end with the old value.
    const uint64_t after = rx.emissions();
    ASSERT_TRUE(waitFor([&] { return rx.emissions() >= after + 2; }, std::chrono::seconds(60)));
    stack.drain();
    auto v = stored(stack, db, metric, attr, value);
    ASSERT_TRUE(v.has_value()) << metric;
    EXPECT_EQ(*v, want) << metric;
  }
};

TEST_F(K8sClusterTest, ScaledDeploymentRestartedPodAndNodeConditionShowInTheNextEmission) {
  const std::string ns = server().createNamespace("cluster");
  auto w = server().createDeployment(ns, "web", {{"krateo.io/composition-id", "comp-web"}}, 2);
  server().create("/api/v1/nodes", {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "node-a"}}}});
  auto setReady = [&](const std::string& status) {
    auto node = server().get("/api/v1/nodes/node-a");
    node["status"]["conditions"] = json::array(
        {{{"type", "Ready"}, {"status", status}, {"reason", "KubeletReady"}, {"lastHeartbeatTime", "2026-03-05T10:00:00Z"},
          {"lastTransitionTime", "2026-03-05T10:00:00Z"}}});
    server().update("/api/v1/nodes/node-a/status", node);
  };
  setReady("True");

  test::MetricsStack stack("k8s_cluster_rx");
  metrics::Registry registry;
  K8sClusterReceiver rx(options(), *stack.pipeline, &registry);
  rx.start();
  ASSERT_TRUE(waitFor([&] { return rx.emissions() >= 1; }, std::chrono::seconds(60)));

  // Names, units and attribute keys as the receiver's metadata has them.
  auto all = rx.state().emit(1, 1);
  test::checkNaming("k8s_cluster", all, {"k8s.statefulset.desired_pods", "k8s.statefulset.ready_pods",
                                         "k8s.statefulset.current_pods", "k8s.statefulset.updated_pods",
                                         "k8s.daemonset.current_scheduled_nodes", "k8s.daemonset.desired_scheduled_nodes",
                                         "k8s.daemonset.misscheduled_nodes", "k8s.daemonset.ready_nodes",
                                         "k8s.job.active_pods", "k8s.job.desired_successful_pods", "k8s.job.failed_pods",
                                         "k8s.job.max_parallel_pods", "k8s.job.successful_pods",
                                         "k8s.container.restarts", "k8s.container.ready",
                                         "k8s.container.cpu_request", "k8s.container.cpu_limit",
                                         "k8s.container.memory_request", "k8s.container.memory_limit",
                                         "k8s.container.storage_request", "k8s.container.storage_limit",
                                         "k8s.container.ephemeralstorage_request",
                                         "k8s.container.ephemeralstorage_limit", "k8s.cronjob.active_jobs",
                                         "k8s.hpa.max_replicas", "k8s.hpa.min_replicas", "k8s.hpa.current_replicas",
                                         "k8s.hpa.desired_replicas", "k8s.resource_quota.hard_limit",
                                         "k8s.resource_quota.used", "k8s.replication_controller.desired",
                                         "k8s.replication_controller.available"});

  // Pods: pending (no kubelet), composition id through RS -> Deployment.
  const std::string pod = w.pods[0]["metadata"]["name"];
  auto phase = matching(all, "k8s.pod.phase", {{"k8s.pod.name", pod}});
  ASSERT_EQ(phase.size(), 1u);
  EXPECT_EQ(phase[0].value, 1);
  EXPECT_EQ(resourceOf(phase[0])["k8s.namespace.name"], ns);
  EXPECT_EQ(resourceOf(phase[0])["k8s.pod.uid"], w.pods[0]["metadata"]["uid"]);
  // The emitted rows carry the composition id, found through the pod's ReplicaSet and its labelled Deployment.
  stack.drain();
  auto ids = stack.rows("SELECT DISTINCT ResourceAttributes['krateo.io/composition-id'] AS id, "
                        "ResourceAttributes['krateo.composition.id'] AS id2 FROM `k8s_cluster_rx`.`" +
                        stack.table(store::schema::TableKind::kMetricsGauge) +
                        "` WHERE MetricName = 'k8s.pod.phase' AND ResourceAttributes['k8s.pod.name'] = '" + pod + "'");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0]["id"], "comp-web");
  EXPECT_EQ(ids[0]["id2"], "comp-web");
  EXPECT_EQ(cached(rx, "k8s.deployment.desired", {{"k8s.deployment.name", "web"}}), 2);
  EXPECT_EQ(cached(rx, "k8s.deployment.available", {{"k8s.deployment.name", "web"}}), 0);
  EXPECT_EQ(cached(rx, "k8s.namespace.phase", {{"k8s.namespace.name", ns}}), 1);

  // 1. kubectl scale deployment web --replicas=5 (the scale subresource).
  server().update("/apis/apps/v1/namespaces/" + ns + "/deployments/web/scale",
                  {{"apiVersion", "autoscaling/v1"}, {"kind", "Scale"},
                   {"metadata", {{"name", "web"}, {"namespace", ns}}}, {"spec", {{"replicas", 5}}}});
  expectNextEmission(stack, "k8s_cluster_rx", rx, "k8s.deployment.desired", {{"k8s.deployment.name", "web"}}, 5,
                     "k8s.deployment.name", "web");

  // 2. The pod runs and its container restarted 3 times, as a kubelet would report through the status subresource.
  auto p = server().get("/api/v1/namespaces/" + ns + "/pods/" + pod);
  p["status"]["phase"] = "Running";
  p["status"]["containerStatuses"] = json::array({{{"name", "app"}, {"ready", true}, {"restartCount", 3},
                                                   {"image", "nginx:1.25"}, {"imageID", ""},
                                                   {"containerID", "containerd://0123abcd"},
                                                   {"state", {{"running", {{"startedAt", "2026-03-05T10:00:00Z"}}}}}}});
  server().update("/api/v1/namespaces/" + ns + "/pods/" + pod + "/status", p);
  expectNextEmission(stack, "k8s_cluster_rx", rx, "k8s.container.restarts", {{"k8s.pod.name", pod}}, 3,
                     "k8s.pod.name", pod);
  auto restarts = matching(rx.state().emit(1, 1), "k8s.container.restarts", {{"k8s.pod.name", pod}});
  ASSERT_EQ(restarts.size(), 1u);
  EXPECT_EQ(resourceOf(restarts[0])["container.id"], "0123abcd");
  EXPECT_EQ(resourceOf(restarts[0])["container.image.name"], "nginx");
  EXPECT_EQ(resourceOf(restarts[0])["container.image.tag"], "1.25");
  EXPECT_EQ(resourceOf(restarts[0])["k8s.container.name"], "app");
  EXPECT_EQ(cached(rx, "k8s.pod.phase", {{"k8s.pod.name", pod}}), 2);
  EXPECT_EQ(cached(rx, "k8s.container.ready", {{"k8s.pod.name", pod}}), 1);

  // 3. The node stops being Ready.
  EXPECT_EQ(cached(rx, "k8s.node.condition_ready", {{"k8s.node.name", "node-a"}}), 1);
  setReady("False");
  expectNextEmission(stack, "k8s_cluster_rx", rx, "k8s.node.condition_ready", {{"k8s.node.name", "node-a"}}, 0,
                     "k8s.node.name", "node-a");
  setReady("Unknown");
  expectNextEmission(stack, "k8s_cluster_rx", rx, "k8s.node.condition_ready", {{"k8s.node.name", "node-a"}}, -1,
                     "k8s.node.name", "node-a");

  // A deleted deployment leaves the cache.
  server().remove("/apis/apps/v1/namespaces/" + ns + "/deployments/web");
  ASSERT_TRUE(waitFor([&] { return std::isnan(cached(rx, "k8s.deployment.desired", {{"k8s.deployment.name", "web"}})); },
                      std::chrono::seconds(60)));
  rx.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  server().remove("/api/v1/nodes/node-a");
}

TEST_F(K8sClusterTest, WorkloadsRequestsAndLimits) {
  const std::string ns = server().createNamespace("workloads");
  server().create("/apis/apps/v1/namespaces/" + ns + "/statefulsets",
                  {{"apiVersion", "apps/v1"}, {"kind", "StatefulSet"},
                   {"metadata", {{"name", "db"}}},
                   {"spec", {{"replicas", 3}, {"serviceName", "db"}, {"selector", {{"matchLabels", {{"app", "db"}}}}},
                             {"template", {{"metadata", {{"labels", {{"app", "db"}}}}},
                                           {"spec", {{"containers", json::array({{{"name", "pg"}, {"image", "postgres:16"}}})}}}}}}}});
  server().create("/apis/apps/v1/namespaces/" + ns + "/daemonsets",
                  {{"apiVersion", "apps/v1"}, {"kind", "DaemonSet"},
                   {"metadata", {{"name", "agent"}, {"labels", {{"krateo.io/composition-id", "comp-agent"}}}}},
                   {"spec", {{"selector", {{"matchLabels", {{"app", "agent"}}}}},
                             {"template", {{"metadata", {{"labels", {{"app", "agent"}}}}},
                                           {"spec", {{"containers", json::array({{{"name", "a"}, {"image", "busybox"}}})}}}}}}}});
  server().create("/apis/batch/v1/namespaces/" + ns + "/jobs",
                  {{"apiVersion", "batch/v1"}, {"kind", "Job"},
                   {"metadata", {{"name", "backup"}}},
                   {"spec", {{"completions", 4}, {"parallelism", 2},
                             {"template", {{"spec", {{"restartPolicy", "Never"},
                                                     {"containers", json::array({{{"name", "b"}, {"image", "busybox"}}})}}}}}}}});
  server().create("/api/v1/namespaces/" + ns + "/pods",
                  {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "sized"}}},
                   {"spec", {{"containers", json::array({{{"name", "c"}, {"image", "registry.local:5000/team/app"},
                                                          {"resources", {{"requests", {{"cpu", "250m"}, {"memory", "64Mi"}, {"ephemeral-storage", "512Mi"}}},
                                                                         {"limits", {{"cpu", "1"}, {"memory", "128Mi"},
                                                                                     {"ephemeral-storage", "1Gi"}}}}}}})}}}});
  test::MetricsStack stack("k8s_cluster_wl");
  K8sClusterReceiver rx(options(), *stack.pipeline, nullptr);
  rx.start();
  ASSERT_TRUE(waitFor([&] { return rx.emissions() >= 1 && !std::isnan(cached(rx, "k8s.container.cpu_limit", {{"k8s.pod.name", "sized"}})); },
                      std::chrono::seconds(60)));
  EXPECT_EQ(cached(rx, "k8s.statefulset.desired_pods", {{"k8s.statefulset.name", "db"}}), 3);
  EXPECT_EQ(cached(rx, "k8s.statefulset.ready_pods", {{"k8s.statefulset.name", "db"}}), 0);
  EXPECT_EQ(cached(rx, "k8s.daemonset.desired_scheduled_nodes", {{"k8s.daemonset.name", "agent"}}), 0);
  auto ds = matching(rx.state().emit(1, 1), "k8s.daemonset.ready_nodes", {{"k8s.daemonset.name", "agent"}});
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(resourceOf(ds[0])["krateo.io/composition-id"], "comp-agent");
  EXPECT_EQ(cached(rx, "k8s.job.desired_successful_pods", {{"k8s.job.name", "backup"}}), 4);
  EXPECT_EQ(cached(rx, "k8s.job.max_parallel_pods", {{"k8s.job.name", "backup"}}), 2);
  EXPECT_EQ(cached(rx, "k8s.job.active_pods", {{"k8s.job.name", "backup"}}), 0);
  EXPECT_EQ(cached(rx, "k8s.container.cpu_request", {{"k8s.pod.name", "sized"}}), 0.25);
  EXPECT_EQ(cached(rx, "k8s.container.cpu_limit", {{"k8s.pod.name", "sized"}}), 1.0);
  EXPECT_EQ(cached(rx, "k8s.container.memory_request", {{"k8s.pod.name", "sized"}}), 64.0 * 1024 * 1024);
  EXPECT_EQ(cached(rx, "k8s.container.memory_limit", {{"k8s.pod.name", "sized"}}), 128.0 * 1024 * 1024);
  EXPECT_EQ(cached(rx, "k8s.container.ephemeralstorage_limit", {{"k8s.pod.name", "sized"}}), 1024.0 * 1024 * 1024);
  EXPECT_EQ(cached(rx, "k8s.container.ephemeralstorage_request", {{"k8s.pod.name", "sized"}}), 512.0 * 1024 * 1024);
  // "storage" is not a resource the API server accepts on a container, so storage_* stay absent here.
  EXPECT_TRUE(std::isnan(cached(rx, "k8s.container.storage_limit", {{"k8s.pod.name", "sized"}})));
  auto img = matching(rx.state().emit(1, 1), "k8s.container.cpu_limit", {{"k8s.pod.name", "sized"}});
  ASSERT_EQ(img.size(), 1u);
  EXPECT_EQ(resourceOf(img[0])["container.image.name"], "registry.local:5000/team/app");
  EXPECT_EQ(resourceOf(img[0])["container.image.tag"], "latest");
  test::checkNaming("k8s_cluster", rx.state().emit(1, 1),
                    {"k8s.container.restarts", "k8s.container.ready", "k8s.container.storage_request",
                     "k8s.container.storage_limit", "k8s.deployment.desired",
                     "k8s.deployment.available", "k8s.replicaset.desired", "k8s.replicaset.available",
                     "k8s.node.condition_ready", "k8s.cronjob.active_jobs", "k8s.hpa.max_replicas",
                     "k8s.hpa.min_replicas", "k8s.hpa.current_replicas", "k8s.hpa.desired_replicas",
                     "k8s.resource_quota.hard_limit", "k8s.resource_quota.used",
                     "k8s.replication_controller.desired", "k8s.replication_controller.available"});
  rx.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

TEST_F(K8sClusterTest, OnlyTheLeaseHolderEmitsAndTheOtherTakesOver) {
  test::MetricsStack stack("k8s_cluster_le");
  auto o = options(std::chrono::milliseconds(200));
  o.leader.enabled = true;
  o.leader.lease_name = "kobs-k8s-cluster-test";
  o.leader.lease_namespace = "default";
  o.leader.lease_duration = std::chrono::seconds(3);
  o.leader.renew_deadline = std::chrono::seconds(2);
  o.leader.retry_period = std::chrono::milliseconds(200);
  auto a_opts = o, b_opts = o;
  a_opts.leader.identity = "replica-a";
  b_opts.leader.identity = "replica-b";
  auto a = std::make_unique<K8sClusterReceiver>(a_opts, *stack.pipeline, nullptr);
  auto b = std::make_unique<K8sClusterReceiver>(b_opts, *stack.pipeline, nullptr);
  a->start();
  ASSERT_TRUE(waitFor([&] { return a->leading() && a->emissions() >= 2; }, std::chrono::seconds(60)));
  b->start();
  ASSERT_TRUE(waitFor([&] { return b->state().allSynced(); }, std::chrono::seconds(60)));
  const uint64_t a_before = a->emissions();
  ASSERT_TRUE(waitFor([&] { return a->emissions() >= a_before + 3; }, std::chrono::seconds(60)));
  EXPECT_FALSE(b->leading());
  EXPECT_EQ(b->emissions(), 0u) << "the standby keeps its cache but does not emit";
  a->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));  // releases the lease
  ASSERT_TRUE(waitFor([&] { return b->leading() && b->emissions() >= 1; }, std::chrono::seconds(60)));
  b->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

// The kinds added after the first cut: each object made as its controller
// would leave it (no controller-manager here: statuses are written through
// the status subresource), then the stored rows checked against what the
// collector's k8s_cluster receiver emits for them (name, unit, value,
// attributes, resource attributes). k8s.hpa.min_replicas is switched off.
TEST_F(K8sClusterTest, CronJobsHpasQuotasReplicationControllersAndAllocatableAsTheReceiverEmits) {
  const std::string ns = server().createNamespace("extra");
  const json tmpl = {{"metadata", {{"labels", {{"app", "legacy"}}}}},
                     {"spec", {{"containers", json::array({{{"name", "c"}, {"image", "busybox"}}})}}}};
  auto rc = server().create("/api/v1/namespaces/" + ns + "/replicationcontrollers",
                            {{"apiVersion", "v1"}, {"kind", "ReplicationController"}, {"metadata", {{"name", "legacy"}}},
                             {"spec", {{"replicas", 3}, {"selector", {{"app", "legacy"}}}, {"template", tmpl}}}});
  rc["status"] = {{"replicas", 3}, {"availableReplicas", 2}, {"readyReplicas", 2}};
  server().update("/api/v1/namespaces/" + ns + "/replicationcontrollers/legacy/status", rc);

  json job_pod = {{"restartPolicy", "Never"}, {"containers", json::array({{{"name", "b"}, {"image", "busybox"}}})}};
  json cj_spec = {{"schedule", "0 3 * * *"}, {"jobTemplate", {{"spec", {{"template", {{"spec", job_pod}}}}}}}};
  auto cj = server().create("/apis/batch/v1/namespaces/" + ns + "/cronjobs",
                            {{"apiVersion", "batch/v1"}, {"kind", "CronJob"},
                             {"metadata", {{"name", "nightly"}, {"labels", {{"krateo.io/composition-id", "comp-cron"}}}}},
                             {"spec", cj_spec}});
  cj["status"] = {{"active", json::array({{{"kind", "Job"}, {"namespace", ns}, {"name", "nightly-1"}, {"apiVersion", "batch/v1"}},
                                          {{"kind", "Job"}, {"namespace", ns}, {"name", "nightly-2"}, {"apiVersion", "batch/v1"}}})}};
  server().update("/apis/batch/v1/namespaces/" + ns + "/cronjobs/nightly/status", cj);

  auto hpa = server().create(
      "/apis/autoscaling/v2/namespaces/" + ns + "/horizontalpodautoscalers",
      {{"apiVersion", "autoscaling/v2"}, {"kind", "HorizontalPodAutoscaler"}, {"metadata", {{"name", "web"}}},
       {"spec", {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
                 {"minReplicas", 2}, {"maxReplicas", 7},
                 {"metrics", json::array({{{"type", "Resource"},
                                           {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", 60}}}}}}})}}}});
  hpa["status"] = {{"currentReplicas", 3}, {"desiredReplicas", 4}};
  server().update("/apis/autoscaling/v2/namespaces/" + ns + "/horizontalpodautoscalers/web/status", hpa);

  // A quota in a namespace of its own (with no controller to fill its status, the quota admission
  // plugin would refuse other objects there).
  const std::string qns = server().createNamespace("quota");
  const json hard = {{"pods", "10"}, {"requests.cpu", "2"}, {"limits.cpu", "1500m"}, {"requests.memory", "1Gi"}};
  auto rq = server().create("/api/v1/namespaces/" + qns + "/resourcequotas",
                            {{"apiVersion", "v1"}, {"kind", "ResourceQuota"}, {"metadata", {{"name", "team"}}},
                             {"spec", {{"hard", hard}}}});
  rq["status"] = {{"hard", hard},
                  {"used", {{"pods", "3"}, {"requests.cpu", "250m"}, {"limits.cpu", "0"}, {"requests.memory", "300Mi"}}}};
  server().update("/api/v1/namespaces/" + qns + "/resourcequotas/team/status", rq);

  server().create("/api/v1/nodes", {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "node-alloc"}}}});
  auto node = server().get("/api/v1/nodes/node-alloc");
  node["status"]["allocatable"] = {{"cpu", "3500m"}, {"memory", "8Gi"}, {"ephemeral-storage", "100Gi"}, {"pods", "110"}};
  node["status"]["capacity"] = node["status"]["allocatable"];
  node["status"]["conditions"] = json::array(
      {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}, {"lastHeartbeatTime", "2026-03-05T10:00:00Z"},
        {"lastTransitionTime", "2026-03-05T10:00:00Z"}},
       {{"type", "MemoryPressure"}, {"status", "False"}, {"reason", "KubeletHasSufficientMemory"},
        {"lastHeartbeatTime", "2026-03-05T10:00:00Z"}, {"lastTransitionTime", "2026-03-05T10:00:00Z"}}});
  server().update("/api/v1/nodes/node-alloc/status", node);

  // An evicted pod (status.reason) and one without a reason, for the optional k8s.pod.status_reason.
  server().createPod(ns, "evicted");
  auto ev = server().get("/api/v1/namespaces/" + ns + "/pods/evicted");
  ev["status"]["phase"] = "Failed";
  ev["status"]["reason"] = "Evicted";
  server().update("/api/v1/namespaces/" + ns + "/pods/evicted/status", ev);
  server().createPod(ns, "plain");

  test::MetricsStack stack("k8s_cluster_extra");
  auto o = options();
  o.state.allocatable_types = {"cpu", "memory", "ephemeral-storage", "pods", "storage"};
  o.state.disabled_metrics = {"k8s.hpa.min_replicas"};
  o.state.enabled_metrics = {"k8s.pod.status_reason", "k8s.node.condition"};
  o.state.node_conditions = {"Ready", "DiskPressure"};
  K8sClusterReceiver rx(o, *stack.pipeline, nullptr);
  rx.start();
  ASSERT_TRUE(waitFor([&] {
    return rx.emissions() >= 1 && cached(rx, "k8s.hpa.desired_replicas", {{"k8s.hpa.name", "web"}}) == 4 &&
           cached(rx, "k8s.pod.status_reason", {{"k8s.pod.name", "evicted"}}) == 1 &&
           cached(rx, "k8s.cronjob.active_jobs", {{"k8s.cronjob.name", "nightly"}}) == 2;
  }, std::chrono::seconds(60)));
  const uint64_t after = rx.emissions();
  ASSERT_TRUE(waitFor([&] { return rx.emissions() >= after + 2; }, std::chrono::seconds(60)));
  EXPECT_EQ(rx.partialEmissions(), 0u);
  // "storage" is not in this node's allocatable: no point, as in the collector; min_replicas is off.
  test::checkNaming("k8s_cluster", rx.state().emit(1, 1),
                    {"k8s.container.restarts", "k8s.container.ready", "k8s.container.storage_request",
                     "k8s.container.storage_limit", "k8s.container.cpu_request", "k8s.container.cpu_limit",
                     "k8s.container.memory_request", "k8s.container.memory_limit",
                     "k8s.container.ephemeralstorage_request", "k8s.container.ephemeralstorage_limit",
                     "k8s.hpa.min_replicas", "k8s.job.active_pods", "k8s.job.desired_successful_pods",
                     "k8s.job.failed_pods", "k8s.job.max_parallel_pods", "k8s.job.successful_pods",
                     "k8s.statefulset.desired_pods", "k8s.statefulset.ready_pods", "k8s.statefulset.current_pods",
                     "k8s.statefulset.updated_pods", "k8s.daemonset.current_scheduled_nodes",
                     "k8s.daemonset.desired_scheduled_nodes", "k8s.daemonset.misscheduled_nodes",
                     "k8s.daemonset.ready_nodes", "k8s.deployment.desired", "k8s.deployment.available",
                     "k8s.replicaset.desired", "k8s.replicaset.available", "k8s.pod.phase"});
  rx.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  stack.drain();

  // The stored rows, newest per (metric, resource, attribute).
  auto rows = stack.rows(
      "SELECT MetricName AS m, MetricUnit AS unit, argMax(Value, TimeUnix) AS v, "
      "if(MetricName = 'k8s.node.condition', Attributes['condition'], Attributes['resource']) AS res, "
      "ResourceAttributes['k8s.pod.name'] AS pod, "
      "any(ResourceAttributes) AS ra, any(mapKeys(Attributes)) AS ak "
      "FROM `k8s_cluster_extra`.`" + stack.table(store::schema::TableKind::kMetricsGauge) +
      "` WHERE ResourceAttributes['k8s.namespace.name'] IN ('" + ns + "', '" + qns +
      "') OR ResourceAttributes['k8s.node.name'] = 'node-alloc' GROUP BY m, unit, res, pod");
  struct Row {
    std::string unit;
    double v;
    json ra, ak;
  };
  std::map<std::tuple<std::string, std::string, std::string>, Row> got;  // metric, attribute, pod
  for (const auto& r : rows) got[{r["m"], r["res"], r["pod"]}] = Row{r["unit"], r["v"].get<double>(), r["ra"], r["ak"]};
  auto expectRow = [&](const std::string& m, const std::string& res, const std::string& unit, double v,
                       const std::map<std::string, std::string>& ra) {
    auto pod = ra.find("k8s.pod.name");
    auto it = got.find({m, res, pod == ra.end() ? "" : pod->second});
    ASSERT_NE(it, got.end()) << m << " " << res << " not stored";
    EXPECT_EQ(it->second.unit, unit) << m;
    EXPECT_EQ(it->second.v, v) << m << " " << res;
    for (const auto& [k, want] : ra) EXPECT_EQ(it->second.ra.value(k, "<absent>"), want) << m << " " << k;
    EXPECT_EQ(it->second.ak, res.empty()                   ? json::array()
                             : m == "k8s.node.condition" ? json::array({"condition"})
                                                         : json::array({"resource"}))
        << m;
  };
  const std::string rc_uid = rc["metadata"]["uid"], cj_uid = cj["metadata"]["uid"], hpa_uid = hpa["metadata"]["uid"],
                    rq_uid = rq["metadata"]["uid"];
  const std::map<std::string, std::string> rc_ra{
      {"k8s.namespace.name", ns}, {"k8s.replicationcontroller.name", "legacy"}, {"k8s.replicationcontroller.uid", rc_uid}};
  expectRow("k8s.replication_controller.desired", "", "{pod}", 3, rc_ra);
  expectRow("k8s.replication_controller.available", "", "{pod}", 2, rc_ra);
  expectRow("k8s.cronjob.active_jobs", "", "{job}", 2,
            {{"k8s.namespace.name", ns}, {"k8s.cronjob.name", "nightly"}, {"k8s.cronjob.uid", cj_uid},
             {"krateo.io/composition-id", "comp-cron"}});
  const std::map<std::string, std::string> hpa_ra{{"k8s.namespace.name", ns}, {"k8s.hpa.name", "web"}, {"k8s.hpa.uid", hpa_uid}};
  expectRow("k8s.hpa.max_replicas", "", "{pod}", 7, hpa_ra);
  expectRow("k8s.hpa.current_replicas", "", "{pod}", 3, hpa_ra);
  expectRow("k8s.hpa.desired_replicas", "", "{pod}", 4, hpa_ra);
  EXPECT_EQ(got.count({"k8s.hpa.min_replicas", "", ""}), 0u) << "switched off";
  const std::map<std::string, std::string> rq_ra{
      {"k8s.namespace.name", qns}, {"k8s.resourcequota.name", "team"}, {"k8s.resourcequota.uid", rq_uid}};
  // *.cpu in millicores, the rest in whole units.
  expectRow("k8s.resource_quota.hard_limit", "pods", "{resource}", 10, rq_ra);
  expectRow("k8s.resource_quota.hard_limit", "requests.cpu", "{resource}", 2000, rq_ra);
  expectRow("k8s.resource_quota.hard_limit", "limits.cpu", "{resource}", 1500, rq_ra);
  expectRow("k8s.resource_quota.hard_limit", "requests.memory", "{resource}", 1073741824, rq_ra);
  expectRow("k8s.resource_quota.used", "pods", "{resource}", 3, rq_ra);
  expectRow("k8s.resource_quota.used", "requests.cpu", "{resource}", 250, rq_ra);
  expectRow("k8s.resource_quota.used", "limits.cpu", "{resource}", 0, rq_ra);
  expectRow("k8s.resource_quota.used", "requests.memory", "{resource}", 300.0 * 1024 * 1024, rq_ra);
  const std::map<std::string, std::string> node_ra{{"k8s.node.name", "node-alloc"}};
  expectRow("k8s.node.allocatable_cpu", "", "{cpu}", 3.5, node_ra);
  expectRow("k8s.node.allocatable_memory", "", "By", 8.0 * 1024 * 1024 * 1024, node_ra);
  expectRow("k8s.node.allocatable_ephemeral_storage", "", "By", 100.0 * 1024 * 1024 * 1024, node_ra);
  expectRow("k8s.node.allocatable_pods", "", "{pod}", 110, node_ra);
  EXPECT_EQ(got.count({"k8s.node.allocatable_storage", "", ""}), 0u) << "not in the node's allocatable";
  expectRow("k8s.node.condition_ready", "", "1", 1, node_ra);
  // A configured condition the node does not report is unknown, as in the collector.
  expectRow("k8s.node.condition_disk_pressure", "", "1", -1, node_ra);
  // The optional k8s.node.condition: every condition the node reports, by attribute.
  expectRow("k8s.node.condition", "Ready", "{condition}", 1, node_ra);
  expectRow("k8s.node.condition", "MemoryPressure", "{condition}", 0, node_ra);
  // The optional k8s.pod.status_reason: 1 Evicted, 6 none.
  expectRow("k8s.pod.status_reason", "", "", 1, {{"k8s.pod.name", "evicted"}, {"k8s.namespace.name", ns}});
  expectRow("k8s.pod.status_reason", "", "", 6, {{"k8s.pod.name", "plain"}, {"k8s.namespace.name", ns}});
  server().remove("/api/v1/nodes/node-alloc");
}

// The cache on its own: the optional metrics are off unless enabled (a node
// is then watched for k8s.node.condition alone), and a pod whose status has
// no phase is 5 (Unknown), as the receiver's phaseToInt has it.
TEST_F(K8sClusterTest, OptionalMetricsAreOffByDefaultAndAnUnsetPhaseIsUnknown) {
  const std::string pod = R"({"metadata":{"name":"p","namespace":"n","uid":"u-p"},"spec":{"containers":[]}})";
  const std::string node =
      R"({"metadata":{"name":"nd","uid":"u-n"},"status":{"conditions":[{"type":"Ready","status":"True"},)"
      R"({"type":"PIDPressure","status":"Unknown"}]}})";
  auto names = [](const std::vector<MetricPoint>& pts) {
    std::multiset<std::string> n;
    for (const auto& p : pts) n.insert(p.name);
    return n;
  };
  {
    StateOptions so;
    so.node_conditions = {};
    ClusterState st(so);
    EXPECT_FALSE(st.wanted(Kind::kNode)) << "no condition types, no allocatable, k8s.node.condition off";
    st.apply(Kind::kPod, pod, false);
    auto pts = st.emit(1, 1);
    auto n = names(pts);
    EXPECT_EQ(n.count("k8s.pod.status_reason"), 0u);
    auto phase = matching(pts, "k8s.pod.phase", {{"k8s.pod.name", "p"}});
    ASSERT_EQ(phase.size(), 1u);
    EXPECT_EQ(phase[0].value, 5);
  }
  StateOptions so;
  so.node_conditions = {};
  so.enabled_metrics = {"k8s.pod.status_reason", "k8s.node.condition"};
  ClusterState st(so);
  EXPECT_TRUE(st.wanted(Kind::kNode));
  st.apply(Kind::kPod, pod, false);
  st.apply(Kind::kNode, node, false);
  auto pts = st.emit(1, 1);
  auto reason = matching(pts, "k8s.pod.status_reason", {{"k8s.pod.name", "p"}});
  ASSERT_EQ(reason.size(), 1u);
  EXPECT_EQ(reason[0].value, 6) << "no reason";
  std::map<std::string, double> conds;
  for (const auto& p : matching(pts, "k8s.node.condition", {{"k8s.node.name", "nd"}})) {
    ASSERT_EQ(p.attributes.size(), 1u);
    conds[pipeline::asString(p.attributes[0].second)] = p.value;
  }
  EXPECT_EQ(conds, (std::map<std::string, double>{{"Ready", 1}, {"PIDPressure", -1}}));
  // Only a pod and a node are cached: the other default metrics are absent.
  std::set<std::string> absent{"k8s.node.condition_ready"};
  for (auto name : metricNames()) absent.emplace(name);
  test::checkNaming("k8s_cluster", pts, absent);
  StateOptions bad;
  bad.enabled_metrics = {"k8s.no.such_metric"};
  EXPECT_THROW(ClusterState{bad}, Exception);
}

// Switching off every metric of a kind drops its watch (and its grant); a
// kind the service account may not list (here: HPAs) holds back the first
// emissions for list_grace only, then the other kinds are emitted without it.
TEST_F(K8sClusterTest, AKindThatCannotBeListedDoesNotSilenceTheOthers) {
  {
    StateOptions so;
    so.disabled_metrics = {"k8s.resource_quota.hard_limit", "k8s.resource_quota.used"};
    ClusterState st(so);
    EXPECT_FALSE(st.wanted(Kind::kResourceQuota));
    EXPECT_TRUE(st.wanted(Kind::kHpa));
    EXPECT_TRUE(st.synced(Kind::kResourceQuota));
    StateOptions bad;
    bad.disabled_metrics = {"k8s.no.such_metric"};
    EXPECT_THROW(ClusterState{bad}, Exception);
  }
  // carol may list and watch every kind but horizontalpodautoscalers.
  server().create("/apis/rbac.authorization.k8s.io/v1/clusterroles",
                  {{"apiVersion", "rbac.authorization.k8s.io/v1"}, {"kind", "ClusterRole"},
                   {"metadata", {{"name", "kobs-cluster-no-hpa"}}},
                   {"rules", json::array({{{"apiGroups", {""}},
                                           {"resources", {"pods", "nodes", "namespaces", "resourcequotas", "replicationcontrollers"}},
                                           {"verbs", {"list", "watch"}}},
                                          {{"apiGroups", {"apps"}},
                                           {"resources", {"deployments", "replicasets", "statefulsets", "daemonsets"}},
                                           {"verbs", {"list", "watch"}}},
                                          {{"apiGroups", {"batch"}}, {"resources", {"jobs", "cronjobs"}}, {"verbs", {"list", "watch"}}}})}});
  server().create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                  {{"apiVersion", "rbac.authorization.k8s.io/v1"}, {"kind", "ClusterRoleBinding"},
                   {"metadata", {{"name", "kobs-cluster-no-hpa"}}},
                   {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "kobs-cluster-no-hpa"}}},
                   {"subjects", json::array({{{"kind", "User"}, {"name", "carol"}, {"apiGroup", "rbac.authorization.k8s.io"}}})}});
  const std::string ns = server().createNamespace("nohpa");
  test::MetricsStack stack("k8s_cluster_nohpa");
  auto o = options();
  k8s::ResolveOptions ro;
  ro.kubeconfig = server().kubeconfig().string();
  ro.context = "carol";
  o.cluster = [ro] { return k8s::resolveClusterConfig(ro); };
  o.resolve = false;
  o.list_grace = std::chrono::milliseconds(1000);
  K8sClusterReceiver rx(o, *stack.pipeline, nullptr);
  rx.start();
  ASSERT_TRUE(waitFor([&] { return rx.partialEmissions() >= 2; }, std::chrono::seconds(60)));
  EXPECT_FALSE(rx.state().synced(Kind::kHpa));
  rx.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  stack.drain();
  auto r = stack.rows("SELECT count() AS n FROM `k8s_cluster_nohpa`.`" +
                      stack.table(store::schema::TableKind::kMetricsGauge) +
                      "` WHERE MetricName = 'k8s.namespace.phase' AND ResourceAttributes['k8s.namespace.name'] = '" + ns + "'");
  ASSERT_EQ(r.size(), 1u);
  const auto& n = r[0]["n"];
  EXPECT_GE(n.is_string() ? std::stoll(n.get<std::string>()) : n.get<int64_t>(), 1)
      << "the listed kinds are emitted without the HPAs";
}

// kubelet_stats resolves a pod's composition id through the real API server
// (pod -> ReplicaSet -> labelled Deployment), for the pod the kubelet reports.
TEST_F(K8sClusterTest, KubeletStatsPodsCarryTheirCompositionId) {
  const std::string ns = server().createNamespace("kubelet");
  auto w = server().createDeployment(ns, "api", {{"krateo.io/composition-id", "comp-api"}}, 1);
  const auto& meta = w.pods[0]["metadata"];
  json summary = {{"node", {{"nodeName", "node-k"}, {"cpu", {{"usageCoreNanoSeconds", 1000000000}}}}},
                  {"pods", json::array({{{"podRef", {{"name", meta["name"]}, {"namespace", ns}, {"uid", meta["uid"]}}},
                                         {"startTime", "2026-03-05T09:00:00Z"},
                                         {"cpu", {{"usageCoreNanoSeconds", 2000000000}}},
                                         {"containers", json::array({{{"name", "app"},
                                                                      {"memory", {{"workingSetBytes", 4096}}}}})}}})}};
  kubelet_stats::testing::KubeletServer kubelet("tok");
  kubelet.setBody(summary.dump());
  kobs::testing::TempDir dir;
  test::MetricsStack stack("kubelet_comp");
  kubelet_stats::KubeletStatsOptions o;
  o.endpoint = kubelet.url();
  o.ca_file = kubelet.caFile();
  o.token_file = dir.path() / "token";
  std::ofstream(o.token_file) << "tok";
  o.interval = std::chrono::milliseconds(200);
  o.start_jitter = false;
  o.resolve = true;
  k8s::ResolveOptions ro;
  ro.kubeconfig = server().kubeconfig().string();
  o.cluster = [ro] { return k8s::resolveClusterConfig(ro); };
  o.resolver.api_calls_per_second = 0;
  kubelet_stats::KubeletStatsReceiver rx(o, *stack.pipeline, nullptr);
  rx.start();
  ASSERT_TRUE(waitFor([&] { return rx.pointsAccepted() >= 3; }, std::chrono::seconds(60)));
  rx.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  stack.drain();
  auto r = stack.rows("SELECT MetricName AS m, ResourceAttributes['krateo.io/composition-id'] AS id FROM "
                      "`kubelet_comp`.`" + stack.table(store::schema::TableKind::kMetricsGauge) +
                      "` WHERE MetricName = 'container.memory.working_set' UNION ALL "
                      "SELECT MetricName AS m, ResourceAttributes['krateo.io/composition-id'] AS id FROM "
                      "`kubelet_comp`.`" + stack.table(store::schema::TableKind::kMetricsSum) + "` WHERE MetricName IN "
                      "('k8s.pod.cpu.time', 'k8s.node.cpu.time')");
  std::map<std::string, std::string> ids;
  for (const auto& row : r) ids[row["m"]] = row["id"];
  EXPECT_EQ(ids["container.memory.working_set"], "comp-api");
  EXPECT_EQ(ids["k8s.pod.cpu.time"], "comp-api");
  EXPECT_EQ(ids["k8s.node.cpu.time"], "");
}

}  // namespace
}  // namespace kobs::collect::k8s_cluster
