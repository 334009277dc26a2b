#include "collect/k8s_cluster/k8s_cluster_receiver.h"

#include "collect/scrape/metric_builder.h"
#include "common/error.h"
#include "common/logging.h"
#include "k8s/api_client.h"
#include "k8s/list_watcher.h"
#include "k8s/resource.h"

namespace kobs::collect::k8s_cluster {

using config::KeySpec;
using config::KeyType;

std::vector<config::KeySpec> configKeys() {
  std::vector<config::KeySpec> keys{
      {"k8s_cluster.enabled", KeyType::kBool, "false", "Watch pods, nodes, namespaces and workloads and emit the collector's k8s_cluster metrics into otel_metrics_gauge (the cluster collector; one replica emits when leader election is on).", {"KOBS_K8S_CLUSTER_ENABLED"}},
      {"k8s_cluster.collection_interval", KeyType::kDuration, "60s", "How often the watch cache is emitted.", {}},
      {"k8s_cluster.start_jitter", KeyType::kBool, "true", "Wait a random part of the interval before the first emission.", {}},
      {"k8s_cluster.node_conditions_to_report", KeyType::kStringList, "Ready", "Node condition types emitted as k8s.node.condition_<type> (1 true, 0 false, -1 unknown).", {}},
      {"k8s_cluster.allocatable_types_to_report", KeyType::kStringList, "", "Node allocatable types emitted as k8s.node.allocatable_<type> (cpu in cores; memory, ephemeral-storage, storage in bytes; pods). None by default, as in the collector.", {}},
      {"k8s_cluster.watch_timeout", KeyType::kDuration, "5m", "Server-side timeout of each watch request.", {}},
      {"k8s_cluster.composition", KeyType::kBool, "true", "Add the Krateo composition id of pods, containers and workloads (composition.* keys).", {}},
      {"k8s_cluster.leader_election.enabled", KeyType::kBool, "false", "Elect one emitting replica through a coordination.k8s.io/v1 Lease.", {"KOBS_LEADER_ELECTION"}},
      {"k8s_cluster.leader_election.lease_name", KeyType::kString, "kobs-k8s-cluster", "Lease name.", {}},
      {"k8s_cluster.leader_election.lease_namespace", KeyType::kString, "default", "Lease namespace (usually kobs's own; POD_NAMESPACE).", {"POD_NAMESPACE"}},
      {"k8s_cluster.leader_election.lease_duration", KeyType::kDuration, "15s", "How long a lease holds without renewal.", {}},
      {"k8s_cluster.leader_election.renew_deadline", KeyType::kDuration, "10s", "A leader that cannot renew for this long steps down.", {}},
      {"k8s_cluster.leader_election.retry_period", KeyType::kDuration, "2s", "Interval between acquire/renew attempts.", {}},
  };
  // One switch per metric, as the collector's `metrics: <name>: enabled:`; a kind whose metrics are all off is not watched.
  for (auto name : metricNames())
    keys.push_back({"k8s_cluster.metrics." + std::string(name) + ".enabled", KeyType::kBool,
                    optionalMetric(name) ? "false" : "true",
                    "Emit " + std::string(name) + (optionalMetric(name) ? " (off by default, as in the collector)." : "."), {}});
  return keys;
}

K8sClusterOptions optionsFromConfig(const config::Values& v) {
  K8sClusterOptions o;
  k8s::ResolveOptions ro;
  ro.kubeconfig = v.str("k8s.kubeconfig");
  ro.context = v.str("k8s.context");
  o.cluster = [ro] { return k8s::resolveClusterConfig(ro); };
  o.state.node_conditions = v.list("k8s_cluster.node_conditions_to_report");
  o.state.allocatable_types = v.list("k8s_cluster.allocatable_types_to_report");
  for (auto name : metricNames()) {
    const bool on = v.boolean("k8s_cluster.metrics." + std::string(name) + ".enabled");
    if (on && optionalMetric(name)) o.state.enabled_metrics.emplace_back(name);
    if (!on && !optionalMetric(name)) o.state.disabled_metrics.emplace_back(name);
  }
  o.state.label_key = v.str("composition.label_key");
  o.state.cluster_name = v.str("k8s.events.cluster_name");
  o.interval = v.duration("k8s_cluster.collection_interval");
  o.start_jitter = v.boolean("k8s_cluster.start_jitter");
  o.watch_timeout_seconds = int(std::max<int64_t>(1, v.duration("k8s_cluster.watch_timeout").count() / 1000));
  o.leader.enabled = v.boolean("k8s_cluster.leader_election.enabled");
  o.leader.lease_name = v.str("k8s_cluster.leader_election.lease_name");
  o.leader.lease_namespace = v.str("k8s_cluster.leader_election.lease_namespace");
  o.leader.lease_duration = v.duration("k8s_cluster.leader_election.lease_duration");
  o.leader.renew_deadline = v.duration("k8s_cluster.leader_election.renew_deadline");
  o.leader.retry_period = v.duration("k8s_cluster.leader_election.retry_period");
  o.resolve = v.boolean("k8s_cluster.composition") && v.boolean("composition.enabled");
  o.resolver.label_key = v.str("composition.label_key");
  o.resolver.max_owner_depth = int(v.integer("composition.owner_depth"));
  o.resolver.cache_size = size_t(std::max<int64_t>(1, v.integer("composition.cache_size")));
  o.resolver.ttl_found = v.duration("composition.cache_ttl");
  o.resolver.ttl_not_found = v.duration("composition.negative_cache_ttl");
  o.resolver.api_calls_per_second = double(v.integer("composition.api_qps"));
  o.resolver.api_burst = double(v.integer("composition.api_burst"));
  return o;
}

namespace {

k8s::ResourceRef refOf(Kind kind) {
  switch (kind) {
    case Kind::kPod: return {"", "v1", "pods"};
    case Kind::kNode: return {"", "v1", "nodes"};
    case Kind::kNamespace: return {"", "v1", "namespaces"};
    case Kind::kDeployment: return {"apps", "v1", "deployments"};
    case Kind::kReplicaSet: return {"apps", "v1", "replicasets"};
    case Kind::kStatefulSet: return {"apps", "v1", "statefulsets"};
    case Kind::kDaemonSet: return {"apps", "v1", "daemonsets"};
    case Kind::kJob: return {"batch", "v1", "jobs"};
    case Kind::kCronJob: return {"batch", "v1", "cronjobs"};
    case Kind::kHpa: return {"autoscaling", "v2", "horizontalpodautoscalers"};
    case Kind::kResourceQuota: return {"", "v1", "resourcequotas"};
    case Kind::kReplicationController: return {"", "v1", "replicationcontrollers"};
  }
  return {};
}

int64_t wallNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

K8sClusterReceiver::K8sClusterReceiver(K8sClusterOptions options, pipeline::Pipeline& pipeline,
                                       metrics::Registry* registry)
    : options_(std::move(options)), pipeline_(pipeline), state_(options_.state) {
  if (options_.leader.identity.empty()) options_.leader.identity = k8s_events::defaultIdentity();
  if (registry) {
    metrics::Labels l{{"component", "k8s_cluster"}};
    points_ = &registry->counter("kobs_metrics_points_total", "Metric data points handed to the pipeline.", l);
    dropped_ = &registry->counter("kobs_metrics_points_dropped_total",
                                  "Metric data points dropped because the disk buffer refused them.", l);
    unsynced_ = &registry->counter("kobs_k8s_cluster_partial_emissions_total",
                                   "Emissions made while some watched kind had not been listed yet.");
    registry->gaugeCallback("kobs_k8s_cluster_leader", "1 when this replica emits cluster metrics (leader, or no election).",
                            [this] { return leading_.load() ? 1.0 : 0.0; });
    registry->gaugeCallback("kobs_k8s_cluster_objects", "Objects in the k8s_cluster watch cache.", [this] {
      double n = 0;
      for (size_t k = 0; k < kKinds; ++k) n += double(state_.size(Kind(k)));
      return n;
    });
  }
  loop_ = std::make_unique<scrape::ScrapeLoop>(
      scrape::ScrapeLoopOptions{"k8s_cluster", options_.interval, options_.start_jitter}, [this] { emitOnce(); },
      registry);
}

K8sClusterReceiver::~K8sClusterReceiver() { shutdown(std::chrono::steady_clock::now()); }

void K8sClusterReceiver::start() {
  if (thread_.joinable()) return;
  start_unix_nano_ = wallNowNs();
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  loop_->start();
}

void K8sClusterReceiver::shutdown(std::chrono::steady_clock::time_point) {
  loop_->stop();
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  for (auto& w : watchers_) w->stop();
  if (elector_ && elector_->leading()) {
    try {
      elector_->release();
    } catch (const std::exception& e) {
      logging::get("k8s_cluster")->warn("could not release the lease: {}", e.what());
    }
  }
  leading_ = false;
}

bool K8sClusterReceiver::connect() {
  try {
    auto config = options_.cluster();
    auto api = std::make_unique<k8s::ApiClient>(config);
    k8s::ListOptions probe;
    probe.limit = 1;
    api->list(refOf(Kind::kNamespace), "", probe);
    logging::get("k8s_cluster")->info("watching cluster objects on {} ({})", config.server, config.source);
    api_ = std::move(api);
    return true;
  } catch (const std::exception& e) {
    // Said once at warning level (nothing is emitted meanwhile), then quietly retried.
    if (!unreachable_logged_) logging::get("k8s_cluster")->warn("Kubernetes API unreachable, retrying: {}", e.what());
    else logging::get("k8s_cluster")->debug("Kubernetes API still unreachable: {}", e.what());
    unreachable_logged_ = true;
    return false;
  }
}

void K8sClusterReceiver::run(std::stop_token stop) {
  auto sleepFor = [&](std::chrono::milliseconds d) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock l(m);
    return !cv.wait_for(l, stop, d, [] { return false; }) && !stop.stop_requested();
  };
  auto backoff = options_.backoff_initial;
  while (!stop.stop_requested() && !connect()) {
    if (!sleepFor(backoff)) return;
    backoff = std::min(backoff * 2, std::max(options_.backoff_max, options_.backoff_initial));
  }
  if (stop.stop_requested()) return;
  if (options_.resolve)
    resolver_ = std::make_unique<composition::CompositionResolver>(composition::apiFetcher(*api_), options_.resolver);
  if (options_.leader.enabled) elector_ = std::make_unique<k8s_events::LeaderElector>(*api_, options_.leader);
  for (size_t k = 0; k < kKinds; ++k) {
    const Kind kind = Kind(k);
    if (!state_.wanted(kind)) continue;  // all its metrics are off: not watched, no grant needed
    k8s::ListWatcherOptions lo;
    lo.resource = refOf(kind);
    lo.watch_timeout_seconds = options_.watch_timeout_seconds;
    k8s::ListWatcherHandlers h;
    h.on_list = [this, kind](std::vector<std::string>& items, const std::string&, k8s::ListReason) {
      state_.replace(kind, items);
    };
    h.on_event = [this, kind](k8s::WatchEventType type, std::string_view object, std::string_view) {
      state_.apply(kind, object, type == k8s::WatchEventType::kDeleted);
    };
    watchers_.push_back(std::make_unique<k8s::ListWatcher>(*api_, lo, std::move(h)));
    watchers_.back()->start();
  }
  connected_at_ = std::chrono::steady_clock::now().time_since_epoch().count();
  connected_ = true;
  const auto tick = options_.leader.enabled ? options_.leader.retry_period : std::chrono::milliseconds(1000);
  while (!stop.stop_requested()) {
    if (elector_) {
      try {
        leading_ = elector_->tick();
      } catch (const std::exception& e) {
        leading_ = false;
        logging::get("k8s_cluster")->warn("leader election: {}", e.what());
      }
    } else {
      leading_ = true;
    }
    if (!sleepFor(std::min(tick, std::chrono::milliseconds(1000)))) break;
  }
}

void K8sClusterReceiver::emitOnce() {
  if (!connected_ || !leading_) return;  // nothing to say yet, or another replica says it
  if (auto missing = state_.unsynced(); !missing.empty()) {
    // Emissions wait for every list for a grace period (list_grace, at least
    // one interval, from connecting); after that a kind that cannot be listed
    // (no RBAC grant, an API the cluster lacks) does not hold back the
    // others: they are emitted, and the missing kinds said once and counted.
    const auto grace = std::max<std::chrono::steady_clock::duration>(options_.interval, options_.list_grace);
    if (std::chrono::steady_clock::now() - std::chrono::steady_clock::time_point(
                                              std::chrono::steady_clock::duration(connected_at_.load())) < grace)
      return;
    ++partial_;
    if (unsynced_) unsynced_->inc();
    if (!unsynced_logged_) {
      std::string names;
      for (Kind k : missing) names += (names.empty() ? "" : ", ") + std::string(kindName(k));
      logging::get("k8s_cluster")->warn("emitting without {} (not listed yet: RBAC grant or API missing?)", names);
      unsynced_logged_ = true;
    }
  }
  composition::CompositionResolver* resolver = resolver_.get();
  CompositionLookup lookup;
  if (resolver)
    lookup = [resolver](const ObjectKey& k) {
      return resolver->resolve({k.api_version, k.kind, k.ns, k.name, k.uid});
    };
  state_.emit(wallNowNs(), start_unix_nano_, lookup, points_buffer_);
  const auto r = scrape::emit(pipeline_, points_buffer_);
  if (points_) points_->inc(r.accepted);
  if (dropped_) dropped_->inc(r.refused + r.no_table);
  ++emissions_;
}

}  // namespace kobs::collect::k8s_cluster
