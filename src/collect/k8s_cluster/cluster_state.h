// ClusterState: the watch cache of the k8s_cluster component (pods, nodes,
// namespaces, deployments, replicasets, statefulsets, daemonsets, jobs,
// cronjobs, horizontal pod autoscalers, resource quotas, replication
// controllers),
// each object kept as the few fields its metrics need, and emit(): the data
// points the collector's k8s_cluster receiver reports for them, with its
// names, units and resource attributes:
//
//   pod        k8s.pod.phase (1 Pending, 2 Running, 3 Succeeded, 4 Failed, 5 Unknown)
//   container  k8s.container.restarts, k8s.container.ready (from status),
//              k8s.container.{cpu,memory,storage,ephemeralstorage}_{request,limit} (from spec)
//   node       k8s.node.condition_<snake_case(type)> (1 true, 0 false, -1 unknown or not reported) for the
//              configured condition types (default Ready, as in the collector);
//              k8s.node.allocatable_<type> for the configured allocatable types (cpu in cores,
//              memory, ephemeral-storage and storage in bytes, pods; default none, as in the collector)
//   namespace  k8s.namespace.phase (1 Active, 0 Terminating)
//   deployment k8s.deployment.{desired,available}; replicaset k8s.replicaset.{desired,available}
//   statefulset k8s.statefulset.{desired,ready,current,updated}_pods
//   daemonset  k8s.daemonset.{current_scheduled,desired_scheduled,misscheduled,ready}_nodes
//   job        k8s.job.{active,failed,successful}_pods, desired_successful_pods and
//              max_parallel_pods (when spec.completions / spec.parallelism are set)
//   cronjob    k8s.cronjob.active_jobs (len(status.active))
//   hpa        k8s.hpa.{max,min,current,desired}_replicas
//   quota      k8s.resource_quota.{hard_limit,used} per `resource` attribute (status.hard /
//              status.used; *.cpu in millicores, the rest rounded up to whole units)
//   rc         k8s.replication_controller.{desired,available}
//   optional   k8s.pod.status_reason (1 Evicted .. 6 other or none), k8s.node.condition (every
//              condition the node reports, attribute `condition`), off by default as in the receiver
//
// Every metric of the receiver's metadata.yaml can be switched off
// (StateOptions::disabled_metrics), the optional ones on (enabled_metrics); a kind whose metrics are all off is not
// watched (wanted() is false), so it needs no RBAC grant.
//
// Pods and containers, and the workloads, also carry krateo.io/composition-id
// and krateo.composition.id when the lookup finds one (the object's label,
// else its owner chain, through the shared resolver).
//
// Threading: apply()/replace() may be called from the watch threads (one per
// kind) concurrently with emit(); the maps are under one mutex and hold
// immutable objects by shared_ptr, so emit() copies the pointers under the
// lock and builds the points outside it. Each kind's parser is used by that
// kind's watch thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pipeline/record.h"

namespace kobs::collect::k8s_cluster {

enum class Kind : uint8_t {
  kPod, kNode, kNamespace, kDeployment, kReplicaSet, kStatefulSet, kDaemonSet, kJob,
  kCronJob, kHpa, kResourceQuota, kReplicationController
};
inline constexpr size_t kKinds = 12;
std::string_view kindName(Kind kind);

// The names of the metrics the receiver's metadata.yaml lists and kobs emits
// (each can be disabled), in table order; node conditions and allocatable
// metrics are chosen by type lists instead, as in the collector.
std::vector<std::string_view> metricNames();
// Off by default in the receiver, and here: k8s.pod.status_reason, k8s.node.condition.
bool optionalMetric(std::string_view name);
// The allocatable types kobs reports ("cpu", "memory", "ephemeral-storage", "storage", "pods").
const std::vector<std::string_view>& allocatableTypes();

// A Kubernetes quantity ("500m", "128Mi", "1.5G", "2") as a number; nullopt when malformed.
std::optional<double> parseQuantity(std::string_view q);

// "MemoryPressure" -> "memory_pressure".
std::string snakeCase(std::string_view camel);

struct ObjectKey {
  std::string api_version, kind, ns, name, uid;
};
// The composition id of an object ("" for none); its label was checked first.
using CompositionLookup = std::function<std::string(const ObjectKey&)>;

struct StateOptions {
  std::vector<std::string> node_conditions{"Ready"};
  std::vector<std::string> allocatable_types;   // none by default, as in the collector
  std::vector<std::string> enabled_metrics;     // optional ones switched on (names from metricNames())
  std::vector<std::string> disabled_metrics;    // switched off
  std::string label_key = "krateo.io/composition-id";
  std::string cluster_name;  // k8s.cluster.name on every resource when set
};

class ClusterState {
 public:
  explicit ClusterState(StateOptions options = {});
  ~ClusterState();

  // A whole list (initial or relist): replaces that kind's objects.
  void replace(Kind kind, const std::vector<std::string>& items);
  // ADDED/MODIFIED (deleted=false) or DELETED of one object.
  void apply(Kind kind, std::string_view object_json, bool deleted);

  // Whether any metric of the kind is on (an unwanted kind is not watched and counts as synced).
  bool wanted(Kind kind) const;
  bool synced(Kind kind) const;
  bool allSynced() const;
  // The wanted kinds not listed yet.
  std::vector<Kind> unsynced() const;
  size_t size(Kind kind) const;

  // The points of every cached object at `now`; `start` is the StartTimeUnix.
  std::vector<pipeline::MetricPoint> emit(int64_t now_unix_nano, int64_t start_unix_nano,
                                          const CompositionLookup& lookup = {}) const;
  // The same into `out` (replaced; its capacity is reused: the receiver keeps one vector across emissions).
  void emit(int64_t now_unix_nano, int64_t start_unix_nano, const CompositionLookup& lookup,
            std::vector<pipeline::MetricPoint>& out) const;

  struct Object;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kobs::collect::k8s_cluster
