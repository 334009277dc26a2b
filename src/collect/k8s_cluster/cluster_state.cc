#include "collect/k8s_cluster/cluster_state.h"

#include <array>
#include <charconv>
#include <cmath>

#include <simdjson.h>

#include "collect/scrape/metric_builder.h"
#include "common/error.h"
#include "common/logging.h"

namespace kobs::collect::k8s_cluster {

namespace {

namespace dom = simdjson::dom;
using pipeline::MetricType;
using scrape::MetricDef;
constexpr auto kGauge = MetricType::kGauge;

// The k8s_cluster receiver's metadata (all gauges, all on by default there).
enum M : uint8_t {
  kPodPhase, kRestarts, kReady,
  kCpuRequest, kCpuLimit, kMemoryRequest, kMemoryLimit, kStorageRequest, kStorageLimit, kEphRequest, kEphLimit,
  kNamespacePhase, kDeployDesired, kDeployAvailable, kRsDesired, kRsAvailable, kRcDesired, kRcAvailable,
  kStsDesired, kStsReady, kStsCurrent, kStsUpdated, kDsCurrent, kDsDesired, kDsMisscheduled, kDsReady,
  kJobActive, kJobDesired, kJobFailed, kJobParallel, kJobSucceeded, kCronActive,
  kHpaMax, kHpaMin, kHpaCurrent, kHpaDesired, kQuotaHard, kQuotaUsed,
  // Optional (off by default in the receiver, and here).
  kPodStatusReason, kNodeCondition, kMetricCount
};
constexpr size_t kFirstOptional = kPodStatusReason;
constexpr std::array<MetricDef, kMetricCount> kDefs{{
    {"k8s.pod.phase", kGauge, "", false, "Phase of the pod: 1 Pending, 2 Running, 3 Succeeded, 4 Failed, 5 Unknown."},
    {"k8s.container.restarts", kGauge, "{restart}", false, "Restarts of the container as the API reports them."},
    {"k8s.container.ready", kGauge, "", false, "1 when the container passes its readiness probe."},
    // Requests and limits, in the order of Container::resources.
    {"k8s.container.cpu_request", kGauge, "{cpu}", false, "CPU the container requests."},
    {"k8s.container.cpu_limit", kGauge, "{cpu}", false, "CPU limit of the container."},
    {"k8s.container.memory_request", kGauge, "By", false, "Memory the container requests."},
    {"k8s.container.memory_limit", kGauge, "By", false, "Memory limit of the container."},
    {"k8s.container.storage_request", kGauge, "By", false, "Storage the container requests."},
    {"k8s.container.storage_limit", kGauge, "By", false, "Storage limit of the container."},
    {"k8s.container.ephemeralstorage_request", kGauge, "By", false, "Ephemeral storage the container requests."},
    {"k8s.container.ephemeralstorage_limit", kGauge, "By", false, "Ephemeral storage limit of the container."},
    {"k8s.namespace.phase", kGauge, "", false, "1 while the namespace is active, 0 while it terminates."},
    {"k8s.deployment.desired", kGauge, "{pod}", false, "Pods the deployment wants."},
    {"k8s.deployment.available", kGauge, "{pod}", false, "Available pods of the deployment."},
    {"k8s.replicaset.desired", kGauge, "{pod}", false, "Pods the replicaset wants."},
    {"k8s.replicaset.available", kGauge, "{pod}", false, "Available pods of the replicaset."},
    {"k8s.replication_controller.desired", kGauge, "{pod}", false, "Pods the replication controller wants."},
    {"k8s.replication_controller.available", kGauge, "{pod}", false, "Available pods of the replication controller."},
    {"k8s.statefulset.desired_pods", kGauge, "{pod}", false, "Pods the statefulset wants (spec.replicas)."},
    {"k8s.statefulset.ready_pods", kGauge, "{pod}", false, "Ready pods of the statefulset."},
    {"k8s.statefulset.current_pods", kGauge, "{pod}", false, "Pods at the statefulset's current revision."},
    {"k8s.statefulset.updated_pods", kGauge, "{pod}", false, "Pods at the statefulset's update revision."},
    {"k8s.daemonset.current_scheduled_nodes", kGauge, "{node}", false, "Nodes running a daemon pod that should."},
    {"k8s.daemonset.desired_scheduled_nodes", kGauge, "{node}", false, "Nodes that should run a daemon pod."},
    {"k8s.daemonset.misscheduled_nodes", kGauge, "{node}", false, "Nodes running a daemon pod that should not."},
    {"k8s.daemonset.ready_nodes", kGauge, "{node}", false, "Nodes with a ready daemon pod."},
    {"k8s.job.active_pods", kGauge, "{pod}", false, "Running pods of the job."},
    {"k8s.job.desired_successful_pods", kGauge, "{pod}", false, "Successful pods the job needs (spec.completions)."},
    {"k8s.job.failed_pods", kGauge, "{pod}", false, "Failed pods of the job."},
    {"k8s.job.max_parallel_pods", kGauge, "{pod}", false, "Pods the job may run at once (spec.parallelism)."},
    {"k8s.job.successful_pods", kGauge, "{pod}", false, "Succeeded pods of the job."},
    {"k8s.cronjob.active_jobs", kGauge, "{job}", false, "Jobs of the cronjob running now (status.active)."},
    {"k8s.hpa.max_replicas", kGauge, "{pod}", false, "Most replicas the autoscaler may scale to."},
    {"k8s.hpa.min_replicas", kGauge, "{pod}", false, "Fewest replicas the autoscaler may scale to."},
    {"k8s.hpa.current_replicas", kGauge, "{pod}", false, "Replicas the autoscaler last saw."},
    {"k8s.hpa.desired_replicas", kGauge, "{pod}", false, "Replicas the autoscaler last asked for."},
    {"k8s.resource_quota.hard_limit", kGauge, "{resource}", false, "Quota limit of a resource in the namespace."},
    {"k8s.resource_quota.used", kGauge, "{resource}", false, "Quota use of a resource in the namespace."},
    {"k8s.pod.status_reason", kGauge, "", false,
     "Pod status reason: 1 Evicted, 2 NodeAffinity, 3 NodeLost, 4 Shutdown, 5 UnexpectedAdmissionError, 6 other or none."},
    {"k8s.node.condition", kGauge, "{condition}", false, "Each condition the node reports (attribute condition): 1 true, 0 false, -1 unknown."},
}};
constexpr std::array<std::string_view, 4> kResourceNames{"cpu", "memory", "storage", "ephemeral-storage"};

// The metrics of each kind (a kind none of whose metrics is on is not watched).
std::vector<M> metricsOf(Kind kind) {
  switch (kind) {
    case Kind::kPod: return {kPodPhase, kRestarts, kReady, kCpuRequest, kCpuLimit, kMemoryRequest, kMemoryLimit,
                             kStorageRequest, kStorageLimit, kEphRequest, kEphLimit, kPodStatusReason};
    case Kind::kNode: return {kNodeCondition};  // and the configured condition types and allocatable types
    case Kind::kNamespace: return {kNamespacePhase};
    case Kind::kDeployment: return {kDeployDesired, kDeployAvailable};
    case Kind::kReplicaSet: return {kRsDesired, kRsAvailable};
    case Kind::kStatefulSet: return {kStsDesired, kStsReady, kStsCurrent, kStsUpdated};
    case Kind::kDaemonSet: return {kDsCurrent, kDsDesired, kDsMisscheduled, kDsReady};
    case Kind::kJob: return {kJobActive, kJobDesired, kJobFailed, kJobParallel, kJobSucceeded};
    case Kind::kCronJob: return {kCronActive};
    case Kind::kHpa: return {kHpaMax, kHpaMin, kHpaCurrent, kHpaDesired};
    case Kind::kResourceQuota: return {kQuotaHard, kQuotaUsed};
    case Kind::kReplicationController: return {kRcDesired, kRcAvailable};
  }
  return {};
}

// Allocatable types: the receiver's metric per type (cpu as cores, the rest as whole units).
struct Allocatable {
  std::string_view type, metric, unit;
};
constexpr std::array<Allocatable, 5> kAllocatable{{
    {"cpu", "k8s.node.allocatable_cpu", "{cpu}"},
    {"memory", "k8s.node.allocatable_memory", "By"},
    {"ephemeral-storage", "k8s.node.allocatable_ephemeral_storage", "By"},
    {"storage", "k8s.node.allocatable_storage", "By"},
    {"pods", "k8s.node.allocatable_pods", "{pod}"},
}};

std::string_view str(dom::element obj, std::string_view key) {
  std::string_view s;
  if (obj.at_key(key).get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}
bool child(dom::element obj, std::string_view key, dom::element& out) {
  return obj.at_key(key).get(out) == simdjson::SUCCESS && out.is_object();
}
std::optional<int64_t> integer(dom::element obj, std::string_view key) {
  int64_t v;
  if (obj.at_key(key).get_int64().get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

// "registry:5000/team/app:1.2@sha256:..." -> ("registry:5000/team/app", "1.2"); no tag: "latest".
std::pair<std::string, std::string> splitImage(std::string_view image) {
  if (auto at = image.find('@'); at != std::string_view::npos) image = image.substr(0, at);
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash))
    return {std::string(image.substr(0, colon)), std::string(image.substr(colon + 1))};
  return {std::string(image), "latest"};
}

}  // namespace

std::string_view kindName(Kind kind) {
  static constexpr std::string_view k[] = {"pods", "nodes", "namespaces", "deployments", "replicasets",
                                           "statefulsets", "daemonsets", "jobs", "cronjobs",
                                           "horizontalpodautoscalers", "resourcequotas", "replicationcontrollers"};
  return k[size_t(kind)];
}

bool optionalMetric(std::string_view name) {
  for (size_t i = kFirstOptional; i < kDefs.size(); ++i)
    if (kDefs[i].name == name) return true;
  return false;
}

std::vector<std::string_view> metricNames() {
  std::vector<std::string_view> names;
  for (const auto& d : kDefs) names.push_back(d.name);
  return names;
}

const std::vector<std::string_view>& allocatableTypes() {
  static const std::vector<std::string_view> types = [] {
    std::vector<std::string_view> t;
    for (const auto& a : kAllocatable) t.push_back(a.type);
    return t;
  }();
  return types;
}

std::optional<double> parseQuantity(std::string_view q) {
  if (q.empty()) return std::nullopt;
  size_t end = 0;
  while (end < q.size() && (std::isdigit(static_cast<unsigned char>(q[end])) || q[end] == '.' || q[end] == '+' ||
                            q[end] == '-'))
    ++end;
  double v = 0;
  auto r = std::from_chars(q.data(), q.data() + end, v);
  if (r.ec != std::errc() || r.ptr != q.data() + end) return std::nullopt;
  std::string_view suffix = q.substr(end);
  static const std::pair<std::string_view, double> kSuffixes[] = {
      {"", 1},       {"n", 1e-9},          {"u", 1e-6},          {"m", 1e-3},          {"k", 1e3},
      {"M", 1e6},    {"G", 1e9},           {"T", 1e12},          {"P", 1e15},          {"E", 1e18},
      {"Ki", 1024.0}, {"Mi", 1048576.0},   {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0}};
  for (const auto& [s, mult] : kSuffixes)
    if (suffix == s) return v * mult;
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    int exp = 0;
    auto er = std::from_chars(suffix.data() + 1, suffix.data() + suffix.size(), exp);
    if (er.ec == std::errc() && er.ptr == suffix.data() + suffix.size()) return v * std::pow(10.0, exp);
  }
  return std::nullopt;
}

std::string snakeCase(std::string_view camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    const char c = camel[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (i > 0) out.push_back('_');
      out.push_back(char(std::tolower(static_cast<unsigned char>(c))));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

struct Container {
  std::string name;
  std::array<std::optional<double>, 8> resources;  // request, limit for cpu, memory, storage, ephemeral-storage
  bool has_status = false;
  int64_t restarts = 0;
  bool ready = false;
  std::shared_ptr<const pipeline::Resource> resource;
};

struct ClusterState::Object {
  Kind kind = Kind::kPod;
  ObjectKey key;
  std::string composition_label;
  std::shared_ptr<const pipeline::Resource> resource;
  int64_t phase = 0;                                 // pod, namespace
  int64_t reason = 6;                                // pod: status reason
  std::vector<Container> containers;                 // pod
  std::vector<std::pair<size_t, int64_t>> conditions;  // node: index into the configured types, value
  std::vector<std::pair<size_t, double>> allocatable;  // node: index into the configured types, value
  std::vector<std::pair<std::string, int64_t>> all_conditions;  // node: every reported type (k8s.node.condition)
  std::array<std::optional<int64_t>, 5> counts;      // workloads, in their metric order
  std::vector<std::pair<std::string, int64_t>> hard, used;  // resource quota: by resource name
  // The resources with the composition id, made on the emitting thread only
  // (emit() is not called concurrently with itself).
  mutable std::string cached_id;
  mutable std::shared_ptr<const pipeline::Resource> cached_resource;
  mutable std::vector<std::shared_ptr<const pipeline::Resource>> cached_containers;
};

struct ClusterState::Impl {
  StateOptions options;
  std::vector<std::string> condition_names;  // metric names, owning the MetricDefs' views
  std::vector<MetricDef> condition_defs;
  std::vector<MetricDef> allocatable_defs;   // per configured allocatable type
  std::vector<std::string> allocatable_keys;  // the status.allocatable key of each
  std::array<bool, kMetricCount> on{};
  std::array<bool, kKinds> wanted{};
  std::array<dom::parser, kKinds> parsers;
  mutable std::mutex mutex;
  std::array<std::unordered_map<std::string, std::shared_ptr<const Object>>, kKinds> objects;
  std::array<bool, kKinds> synced{};
  std::shared_ptr<const pipeline::Scope> scope;

  pipeline::Attributes base() const {
    pipeline::Attributes a;
    if (!options.cluster_name.empty()) a.emplace_back("k8s.cluster.name", options.cluster_name);
    return a;
  }

  std::shared_ptr<const Object> parse(Kind kind, dom::element o) const;
};

std::shared_ptr<const ClusterState::Object> ClusterState::Impl::parse(Kind kind, dom::element o) const {
  dom::element meta;
  if (!child(o, "metadata", meta)) throw Exception(ErrorCode::kBadInput, "{} object without metadata", kindName(kind));
  auto obj = std::make_shared<Object>();
  obj->kind = kind;
  obj->key.ns = std::string(str(meta, "namespace"));
  obj->key.name = std::string(str(meta, "name"));
  obj->key.uid = std::string(str(meta, "uid"));
  // Items of a list carry no apiVersion/kind; the watch's kind says what they are.
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"v1", "Pod"},          {"v1", "Node"},        {"v1", "Namespace"},      {"apps/v1", "Deployment"},
      {"apps/v1", "ReplicaSet"}, {"apps/v1", "StatefulSet"}, {"apps/v1", "DaemonSet"}, {"batch/v1", "Job"},
      {"batch/v1", "CronJob"}, {"autoscaling/v2", "HorizontalPodAutoscaler"}, {"v1", "ResourceQuota"},
      {"v1", "ReplicationController"}};
  obj->key.api_version = std::string(kTypes[size_t(kind)].first);
  obj->key.kind = std::string(kTypes[size_t(kind)].second);
  dom::element labels;
  if (child(meta, "labels", labels)) obj->composition_label = std::string(str(labels, options.label_key));
  dom::element spec, status;
  const bool has_spec = child(o, "spec", spec);
  const bool has_status = child(o, "status", status);
  auto r = std::make_shared<pipeline::Resource>();
  r->attributes = base();
  auto& a = r->attributes;
  auto named = [&](const char* prefix) {
    a.emplace_back(std::string(prefix) + ".name", obj->key.name);
    a.emplace_back(std::string(prefix) + ".uid", obj->key.uid);
    a.emplace_back("k8s.namespace.name", obj->key.ns);
  };
  auto count = [&](size_t i, dom::element from, bool present, std::string_view field, std::optional<int64_t> dflt) {
    obj->counts[i] = present ? integer(from, field) : std::nullopt;
    if (!obj->counts[i]) obj->counts[i] = dflt;
  };
  switch (kind) {
    case Kind::kPod: {
      const std::string node = has_spec ? std::string(str(spec, "nodeName")) : "";
      a.emplace_back("k8s.namespace.name", obj->key.ns);
      a.emplace_back("k8s.node.name", node);
      a.emplace_back("k8s.pod.name", obj->key.name);
      a.emplace_back("k8s.pod.uid", obj->key.uid);
      const std::string_view phase = has_status ? str(status, "phase") : "";
      // As the receiver: anything else, an empty phase included, is 5 (the API server sets Pending on create).
      obj->phase = phase == "Pending" ? 1 : phase == "Running" ? 2 : phase == "Succeeded" ? 3 : phase == "Failed" ? 4 : 5;
      const std::string_view reason = has_status ? str(status, "reason") : "";
      obj->reason = reason == "Evicted" ? 1 : reason == "NodeAffinity" ? 2 : reason == "NodeLost" ? 3
                  : reason == "Shutdown" ? 4 : reason == "UnexpectedAdmissionError" ? 5 : 6;
      dom::array cs;
      std::vector<std::pair<std::string, std::string>> images;  // per container: image
      if (has_spec && spec.at_key("containers").get_array().get(cs) == simdjson::SUCCESS) {
        for (dom::element c : cs) {
          Container ct;
          ct.name = std::string(str(c, "name"));
          images.emplace_back(ct.name, std::string(str(c, "image")));
          dom::element res;
          if (child(c, "resources", res)) {
            for (size_t k = 0; k < 2; ++k) {
              dom::element which;
              if (!child(res, k == 0 ? "requests" : "limits", which)) continue;
              for (size_t n = 0; n < kResourceNames.size(); ++n) ct.resources[n * 2 + k] = parseQuantity(str(which, kResourceNames[n]));
            }
          }
          obj->containers.push_back(std::move(ct));
        }
      }
      std::vector<std::string> ids(obj->containers.size());
      dom::array st;
      if (has_status && status.at_key("containerStatuses").get_array().get(st) == simdjson::SUCCESS) {
        for (dom::element s : st) {
          const std::string_view name = str(s, "name");
          for (size_t i = 0; i < obj->containers.size(); ++i) {
            auto& ct = obj->containers[i];
            if (ct.name != name) continue;
            ct.has_status = true;
            ct.restarts = integer(s, "restartCount").value_or(0);
            bool ready = false;
            if (s.at_key("ready").get_bool().get(ready) != simdjson::SUCCESS) ready = false;
            ct.ready = ready;
            std::string_view id = str(s, "containerID");
            if (auto p = id.find("://"); p != std::string_view::npos) id = id.substr(p + 3);
            ids[i] = std::string(id);
          }
        }
      }
      for (size_t i = 0; i < obj->containers.size(); ++i) {
        auto cr = std::make_shared<pipeline::Resource>();
        cr->attributes = a;
        if (!ids[i].empty()) cr->attributes.emplace_back("container.id", ids[i]);
        auto [iname, itag] = splitImage(images[i].second);
        cr->attributes.emplace_back("container.image.name", std::move(iname));
        cr->attributes.emplace_back("container.image.tag", std::move(itag));
        cr->attributes.emplace_back("k8s.container.name", obj->containers[i].name);
        obj->containers[i].resource = std::move(cr);
      }
      break;
    }
    case Kind::kNode: {
      a.emplace_back("k8s.node.name", obj->key.name);
      a.emplace_back("k8s.node.uid", obj->key.uid);
      // Every configured type gets a point; one the node does not report is unknown (-1), as in the collector.
      for (size_t i = 0; i < options.node_conditions.size(); ++i) obj->conditions.emplace_back(i, -1);
      dom::array conds;
      if (has_status && status.at_key("conditions").get_array().get(conds) == simdjson::SUCCESS) {
        for (dom::element c : conds) {
          const std::string_view type = str(c, "type"), st = str(c, "status");
          const int64_t v = st == "True" ? 1 : st == "False" ? 0 : -1;
          for (size_t i = 0; i < options.node_conditions.size(); ++i)
            if (options.node_conditions[i] == type) obj->conditions[i].second = v;
          if (on[kNodeCondition]) obj->all_conditions.emplace_back(std::string(type), v);
        }
      }
      dom::element alloc;
      if (has_status && child(status, "allocatable", alloc)) {
        for (size_t i = 0; i < allocatable_keys.size(); ++i) {
          const auto q = parseQuantity(str(alloc, allocatable_keys[i]));
          if (!q) continue;  // absent on this node: no point, as in the collector
          // cpu in cores from whole millicores; the rest rounded up to whole units (Quantity.Value()).
          obj->allocatable.emplace_back(i, allocatable_keys[i] == "cpu" ? std::ceil(*q * 1000 - 1e-9) / 1000
                                                                        : std::ceil(*q - 1e-9));
        }
      }
      break;
    }
    case Kind::kNamespace: {
      a.emplace_back("k8s.namespace.name", obj->key.name);
      a.emplace_back("k8s.namespace.uid", obj->key.uid);
      obj->phase = (has_status && str(status, "phase") == "Terminating") ? 0 : 1;
      break;
    }
    case Kind::kDeployment:
    case Kind::kReplicaSet:
      named(kind == Kind::kDeployment ? "k8s.deployment" : "k8s.replicaset");
      count(0, spec, has_spec, "replicas", 1);
      count(1, status, has_status, "availableReplicas", 0);
      break;
    case Kind::kStatefulSet:
      named("k8s.statefulset");
      count(0, spec, has_spec, "replicas", 1);
      count(1, status, has_status, "readyReplicas", 0);
      count(2, status, has_status, "currentReplicas", 0);
      count(3, status, has_status, "updatedReplicas", 0);
      break;
    case Kind::kDaemonSet:
      named("k8s.daemonset");
      count(0, status, has_status, "currentNumberScheduled", 0);
      count(1, status, has_status, "desiredNumberScheduled", 0);
      count(2, status, has_status, "numberMisscheduled", 0);
      count(3, status, has_status, "numberReady", 0);
      break;
    case Kind::kJob:
      named("k8s.job");
      count(0, status, has_status, "active", 0);
      count(1, spec, has_spec, "completions", std::nullopt);
      count(2, status, has_status, "failed", 0);
      count(3, spec, has_spec, "parallelism", std::nullopt);
      count(4, status, has_status, "succeeded", 0);
      break;
    case Kind::kCronJob: {
      named("k8s.cronjob");
      dom::array active;
      obj->counts[0] = (has_status && status.at_key("active").get_array().get(active) == simdjson::SUCCESS)
                           ? int64_t(active.size())
                           : 0;
      break;
    }
    case Kind::kHpa:
      named("k8s.hpa");
      count(0, spec, has_spec, "maxReplicas", 0);
      count(1, spec, has_spec, "minReplicas", 1);  // the API's default
      count(2, status, has_status, "currentReplicas", 0);
      count(3, status, has_status, "desiredReplicas", 0);
      break;
    case Kind::kReplicationController:
      named("k8s.replicationcontroller");
      // Only with spec.replicas, as the collector does (the API server defaults it to 1).
      count(0, spec, has_spec, "replicas", std::nullopt);
      if (obj->counts[0]) count(1, status, has_status, "availableReplicas", 0);
      break;
    case Kind::kResourceQuota: {
      named("k8s.resourcequota");
      // Quantities as the collector reads them: *.cpu in millicores, the rest rounded up to whole units.
      auto quantities = [&](std::string_view field, std::vector<std::pair<std::string, int64_t>>& out) {
        dom::object m;
        if (!has_status || status.at_key(field).get_object().get(m) != simdjson::SUCCESS) return;
        for (auto [k, v] : m) {
          std::string_view q;
          if (v.get_string().get(q) != simdjson::SUCCESS) continue;
          auto val = parseQuantity(q);
          if (!val) continue;
          const bool cpu = k.size() >= 4 && k.substr(k.size() - 4) == ".cpu";
          out.emplace_back(std::string(k), int64_t(std::ceil((cpu ? *val * 1000 : *val) - 1e-9)));
        }
      };
      quantities("hard", obj->hard);
      quantities("used", obj->used);
      break;
    }
  }
  obj->resource = std::move(r);
  return obj;
}

ClusterState::ClusterState(StateOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  for (const auto& c : impl_->options.node_conditions) impl_->condition_names.push_back("k8s.node.condition_" + snakeCase(c));
  for (const auto& n : impl_->condition_names)
    impl_->condition_defs.push_back({n, kGauge, "1", false, "Node condition: 1 true, 0 false, -1 unknown."});
  for (const auto& t : impl_->options.allocatable_types) {
    const Allocatable* a = nullptr;
    for (const auto& k : kAllocatable)
      if (k.type == t) a = &k;
    if (!a) {
      // As the collector: an unknown type is skipped and said.
      logging::get("k8s_cluster")->warn("allocatable type {} is not one of cpu, memory, ephemeral-storage, storage, pods; skipped", t);
      continue;
    }
    impl_->allocatable_keys.emplace_back(a->type);
    impl_->allocatable_defs.push_back({a->metric, kGauge, a->unit, false, "Allocatable amount of the node."});
  }
  for (size_t i = 0; i < kDefs.size(); ++i) impl_->on[i] = i < kFirstOptional;
  auto set = [&](const std::vector<std::string>& names, bool value) {
    for (const auto& name : names) {
      bool known = false;
      for (size_t i = 0; i < kDefs.size(); ++i)
        if (kDefs[i].name == name) impl_->on[i] = value, known = true;
      if (!known) throw Exception(ErrorCode::kBadInput, "k8s_cluster: no metric {}", name);
    }
  };
  set(impl_->options.enabled_metrics, true);
  set(impl_->options.disabled_metrics, false);
  for (size_t k = 0; k < kKinds; ++k) {
    bool any = false;
    for (M m : metricsOf(Kind(k))) any = any || impl_->on[m];
    impl_->wanted[k] = any;
  }
  impl_->wanted[size_t(Kind::kNode)] =
      impl_->wanted[size_t(Kind::kNode)] || !impl_->condition_defs.empty() || !impl_->allocatable_defs.empty();
  auto scope = std::make_shared<pipeline::Scope>();
  scope->name = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/k8sclusterreceiver";
  scope->version = "kobs";
  impl_->scope = std::move(scope);
}

ClusterState::~ClusterState() = default;

void ClusterState::replace(Kind kind, const std::vector<std::string>& items) {
  std::unordered_map<std::string, std::shared_ptr<const Object>> fresh;
  fresh.reserve(items.size());
  auto& parser = impl_->parsers[size_t(kind)];
  size_t bad = 0;
  for (const auto& item : items) {
    dom::element doc;
    if (parser.parse(item).get(doc) != simdjson::SUCCESS) {
      ++bad;
      continue;
    }
    try {
      auto obj = impl_->parse(kind, doc);
      fresh[obj->key.uid] = std::move(obj);
    } catch (const Exception&) {
      ++bad;
    }
  }
  if (bad) logging::get("k8s_cluster")->warn("{} listed {} that could not be read were skipped", bad, kindName(kind));
  std::lock_guard l(impl_->mutex);
  impl_->objects[size_t(kind)] = std::move(fresh);
  impl_->synced[size_t(kind)] = true;
}

void ClusterState::apply(Kind kind, std::string_view json, bool deleted) {
  dom::element doc;
  if (auto err = impl_->parsers[size_t(kind)].parse(json.data(), json.size(), true).get(doc))
    throw Exception(ErrorCode::kBadInput, "{} watch object is not JSON: {}", kindName(kind),
                    simdjson::error_message(err));
  auto obj = impl_->parse(kind, doc);
  std::lock_guard l(impl_->mutex);
  auto& m = impl_->objects[size_t(kind)];
  if (deleted) m.erase(obj->key.uid);
  else m[obj->key.uid] = std::move(obj);
}

bool ClusterState::wanted(Kind kind) const { return impl_->wanted[size_t(kind)]; }

bool ClusterState::synced(Kind kind) const {
  std::lock_guard l(impl_->mutex);
  return impl_->synced[size_t(kind)] || !impl_->wanted[size_t(kind)];
}

bool ClusterState::allSynced() const { return unsynced().empty(); }

std::vector<Kind> ClusterState::unsynced() const {
  std::vector<Kind> out;
  std::lock_guard l(impl_->mutex);
  for (size_t k = 0; k < kKinds; ++k)
    if (impl_->wanted[k] && !impl_->synced[k]) out.push_back(Kind(k));
  return out;
}

size_t ClusterState::size(Kind kind) const {
  std::lock_guard l(impl_->mutex);
  return impl_->objects[size_t(kind)].size();
}

namespace {
std::shared_ptr<const pipeline::Resource> withId(const std::shared_ptr<const pipeline::Resource>& r, const std::string& id) {
  auto c = std::make_shared<pipeline::Resource>(*r);
  c->attributes.emplace_back("krateo.io/composition-id", id);
  c->attributes.emplace_back("krateo.composition.id", id);
  return c;
}
}  // namespace

std::vector<pipeline::MetricPoint> ClusterState::emit(int64_t now, int64_t start, const CompositionLookup& lookup) const {
  std::vector<pipeline::MetricPoint> out;
  emit(now, start, lookup, out);
  return out;
}

void ClusterState::emit(int64_t now, int64_t start, const CompositionLookup& lookup,
                        std::vector<pipeline::MetricPoint>& out) const {
  std::array<std::vector<std::shared_ptr<const Object>>, kKinds> snapshot;
  {
    std::lock_guard l(impl_->mutex);
    for (size_t k = 0; k < kKinds; ++k) {
      snapshot[k].reserve(impl_->objects[k].size());
      for (const auto& [uid, o] : impl_->objects[k]) snapshot[k].push_back(o);
    }
  }
  scrape::MetricBuilder b(impl_->scope, now, std::move(out));
  b.setStart(start);
  size_t estimate = 0;
  for (const auto& o : snapshot[size_t(Kind::kPod)]) estimate += 1 + o->containers.size() * 10;
  for (size_t k = size_t(Kind::kNamespace); k < kKinds; ++k) estimate += snapshot[k].size() * 5;
  b.points().reserve(estimate + snapshot[size_t(Kind::kNode)].size() * impl_->condition_defs.size() + 1024);
  // The object's resource, with its composition id when it has one.
  const auto& on = impl_->on;
  auto add = [&](M m, double v) {
    if (on[m]) b.add(kDefs[m], v);
  };
  // resolve=false: the label only (kinds the composition resolver is not granted to read).
  auto resourceOf = [&](const Object& o, bool resolve = true) -> const std::shared_ptr<const pipeline::Resource>& {
    std::string id = o.composition_label;
    if (id.empty() && lookup && resolve) id = lookup(o.key);
    if (id != o.cached_id || (!id.empty() && !o.cached_resource)) {
      o.cached_id = id;
      o.cached_resource = id.empty() ? nullptr : withId(o.resource, id);
      o.cached_containers.clear();
      for (const auto& c : o.containers) o.cached_containers.push_back(id.empty() ? nullptr : withId(c.resource, id));
    }
    return o.cached_resource ? o.cached_resource : o.resource;
  };
  for (const auto& o : snapshot[size_t(Kind::kPod)]) {
    b.setResource(resourceOf(*o));
    add(kPodPhase, double(o->phase));
    add(kPodStatusReason, double(o->reason));
    for (size_t i = 0; i < o->containers.size(); ++i) {
      const auto& c = o->containers[i];
      b.setResource(o->cached_containers.size() > i && o->cached_containers[i] ? o->cached_containers[i] : c.resource);
      if (c.has_status) {
        add(kRestarts, double(c.restarts));
        add(kReady, c.ready ? 1.0 : 0.0);
      }
      for (size_t k = 0; k < c.resources.size(); ++k)
        if (c.resources[k]) add(M(kCpuRequest + k), *c.resources[k]);
    }
  }
  for (const auto& o : snapshot[size_t(Kind::kNode)]) {
    b.setResource(o->resource);
    for (const auto& [i, v] : o->conditions) b.add(impl_->condition_defs[i], double(v));
    for (const auto& [i, v] : o->allocatable) b.add(impl_->allocatable_defs[i], v);
    if (on[kNodeCondition])
      for (const auto& [type, v] : o->all_conditions) b.add(kDefs[kNodeCondition], double(v), {{"condition", type}});
  }
  for (const auto& o : snapshot[size_t(Kind::kNamespace)]) {
    b.setResource(o->resource);
    add(kNamespacePhase, double(o->phase));
  }
  auto workloads = [&](Kind kind, bool resolve) {
    const auto ms = metricsOf(kind);
    for (const auto& o : snapshot[size_t(kind)]) {
      b.setResource(resourceOf(*o, resolve));
      for (size_t i = 0; i < ms.size(); ++i)
        if (o->counts[i]) add(ms[i], double(*o->counts[i]));
    }
  };
  workloads(Kind::kDeployment, true);
  workloads(Kind::kReplicaSet, true);
  workloads(Kind::kReplicationController, false);
  workloads(Kind::kStatefulSet, true);
  workloads(Kind::kDaemonSet, true);
  workloads(Kind::kJob, true);
  workloads(Kind::kCronJob, true);
  workloads(Kind::kHpa, false);
  for (const auto& o : snapshot[size_t(Kind::kResourceQuota)]) {
    b.setResource(resourceOf(*o, false));
    if (on[kQuotaHard])
      for (const auto& [r, v] : o->hard) b.add(kDefs[kQuotaHard], double(v), {{"resource", r}});
    if (on[kQuotaUsed])
      for (const auto& [r, v] : o->used) b.add(kDefs[kQuotaUsed], double(v), {{"resource", r}});
  }
  out = std::move(b.points());
}

}  // namespace kobs::collect::k8s_cluster
