#include "collect/collector_registry.h"

#include "collect/demo/demo_feed.h"
#include "collect/host_metrics/host_metrics_receiver.h"
#include "collect/k8s_cluster/k8s_cluster_receiver.h"
#include "collect/kubelet_stats/kubelet_stats_receiver.h"
#include "collect/k8s_events/events_receiver.h"
#include "collect/pod_logs/pod_logs_receiver.h"
#include "collect/otlp/otlp_receiver.h"
#include "k8s/cluster_config.h"

namespace kobs::collect {

using config::KeySpec;
using config::KeyType;

std::vector<config::KeySpec> collectorConfigKeys() {
  std::vector<config::KeySpec> keys = {
      {"k8s.kubeconfig", KeyType::kString, "", "Kubeconfig file of the cluster to watch (else $KUBECONFIG, the in-cluster service account, ~/.kube/config).", {"KOBS_KUBECONFIG"}},
      {"k8s.context", KeyType::kString, "", "Kubeconfig context (empty: current-context).", {"KOBS_KUBE_CONTEXT"}},
      {"k8s.events.enabled", KeyType::kBool, "true", "Watch Kubernetes Events and store them in otel_logs.", {"KOBS_K8S_EVENTS_ENABLED"}},
      {"k8s.events.namespaces", KeyType::kStringList, "", "Namespaces to watch (one watch each); empty: all namespaces.", {"KOBS_K8S_EVENTS_NAMESPACES"}},
      {"k8s.events.store_deleted", KeyType::kBool, "false", "Also store DELETED notifications as rows.", {}},
      {"k8s.events.max_age", KeyType::kDuration, "1h", "Listed events older than this (last timestamp) are not stored, on first start and after a relist.", {}},
      {"k8s.events.checkpoint_interval", KeyType::kDuration, "1s", "How often the resume checkpoint is written when it changed.", {}},
      {"k8s.events.recovery_margin", KeyType::kDuration, "5m", "Clock-skew margin of the store query that finds rows stored after the checkpoint.", {}},
      {"k8s.events.watch_timeout", KeyType::kDuration, "5m", "Server-side timeout of each watch request.", {}},
      {"k8s.events.cluster_name", KeyType::kString, "", "k8s.cluster.name resource attribute on every event row (empty: not set).", {"KOBS_CLUSTER_NAME"}},
      {"k8s.events.service_name", KeyType::kString, "", "ServiceName of event rows (empty, as the old collector wrote).", {}},
      {"k8s.events.leader_election.enabled", KeyType::kBool, "false", "Elect one active replica through a coordination.k8s.io/v1 Lease.", {"KOBS_LEADER_ELECTION"}},
      {"k8s.events.leader_election.lease_name", KeyType::kString, "kobs-k8s-events", "Lease name.", {}},
      {"k8s.events.leader_election.lease_namespace", KeyType::kString, "default", "Lease namespace (usually kobs's own; POD_NAMESPACE).", {"POD_NAMESPACE"}},
      {"k8s.events.leader_election.lease_duration", KeyType::kDuration, "15s", "How long a lease holds without renewal.", {}},
      {"k8s.events.leader_election.renew_deadline", KeyType::kDuration, "10s", "A leader that cannot renew for this long steps down.", {}},
      {"k8s.events.leader_election.retry_period", KeyType::kDuration, "2s", "Interval between acquire/renew attempts.", {}},
      {"composition.enabled", KeyType::kBool, "true", "Resolve the Krateo composition id of each event's involved object.", {}},
      {"composition.label_key", KeyType::kString, "krateo.io/composition-id", "Label holding the composition id.", {}},
      {"composition.owner_depth", KeyType::kInt, "3", "How many ownerReferences levels to follow from an unlabelled object.", {}},
      {"composition.cache_size", KeyType::kInt, "100000", "Entries of the LRU cache (by involved object uid).", {}},
      {"composition.cache_ttl", KeyType::kDuration, "5m", "How long a found id is cached.", {}},
      {"composition.negative_cache_ttl", KeyType::kDuration, "30s", "How long 'no id' (unlabelled, missing, API error) is cached.", {}},
      {"composition.api_qps", KeyType::kInt, "50", "API calls per second the resolver may make (0: unlimited); beyond it events are stored without an id.", {}},
      {"composition.api_burst", KeyType::kInt, "100", "Calls the resolver may make at once after a quiet period.", {}},
  };
  for (auto& k : pod_logs::configKeys()) keys.push_back(std::move(k));
  for (auto& k : otlp::configKeys()) keys.push_back(std::move(k));
  for (auto& k : host_metrics::configKeys()) keys.push_back(std::move(k));
  for (auto& k : kubelet_stats::configKeys()) keys.push_back(std::move(k));
  for (auto& k : k8s_cluster::configKeys()) keys.push_back(std::move(k));
  return keys;
}

namespace {

k8s_events::ReceiverOptions receiverOptions(const CollectorContext& ctx) {
  const auto& v = ctx.config;
  k8s_events::ReceiverOptions o;
  o.state_dir = ctx.data_dir / "k8s_events";
  k8s::ResolveOptions ro;
  ro.kubeconfig = v.str("k8s.kubeconfig");
  ro.context = v.str("k8s.context");
  o.cluster = [ro] { return k8s::resolveClusterConfig(ro); };
  o.namespaces = v.list("k8s.events.namespaces");
  o.store_deleted = v.boolean("k8s.events.store_deleted");
  o.max_age = v.duration("k8s.events.max_age");
  o.checkpoint_interval = v.duration("k8s.events.checkpoint_interval");
  o.recovery_margin = v.duration("k8s.events.recovery_margin");
  o.watch_timeout_seconds = int(std::max<int64_t>(1, v.duration("k8s.events.watch_timeout").count() / 1000));
  o.mapping.cluster_name = v.str("k8s.events.cluster_name");
  o.mapping.service_name = v.str("k8s.events.service_name");
  o.leader.enabled = v.boolean("k8s.events.leader_election.enabled");
  o.leader.lease_name = v.str("k8s.events.leader_election.lease_name");
  o.leader.lease_namespace = v.str("k8s.events.leader_election.lease_namespace");
  o.leader.lease_duration = v.duration("k8s.events.leader_election.lease_duration");
  o.leader.renew_deadline = v.duration("k8s.events.leader_election.renew_deadline");
  o.leader.retry_period = v.duration("k8s.events.leader_election.retry_period");
  o.resolve = v.boolean("composition.enabled");
  o.resolver.label_key = v.str("composition.label_key");
  o.resolver.max_owner_depth = int(v.integer("composition.owner_depth"));
  o.resolver.cache_size = size_t(std::max<int64_t>(1, v.integer("composition.cache_size")));
  o.resolver.ttl_found = v.duration("composition.cache_ttl");
  o.resolver.ttl_not_found = v.duration("composition.negative_cache_ttl");
  o.resolver.api_calls_per_second = double(v.integer("composition.api_qps"));
  o.resolver.api_burst = double(v.integer("composition.api_burst"));
  return o;
}

}  // namespace

std::vector<CollectorFactory> registerCollectors() {
  return {
      {"k8s_events",
       [](const CollectorContext& ctx) -> std::unique_ptr<Component> {
         // In demo mode the built-in scenario replaces the cluster.
         if (ctx.demo || !ctx.config.boolean("k8s.events.enabled")) return nullptr;
         return std::make_unique<k8s_events::EventsReceiver>(receiverOptions(ctx), ctx.pipeline, ctx.store,
                                                             &ctx.metrics);
       }},
      {"k8s_events_demo",
       [](const CollectorContext& ctx) -> std::unique_ptr<Component> {
         if (!ctx.demo) return nullptr;
         demo::DemoOptions o;
         o.mapping.cluster_name = ctx.config.str("k8s.events.cluster_name");
         o.mapping.service_name = ctx.config.str("k8s.events.service_name");
         return std::make_unique<demo::DemoFeed>(o, ctx.pipeline);
       }},
      {"pod_logs",
       [](const CollectorContext& ctx) -> std::unique_ptr<Component> {
         if (!ctx.config.boolean("pod_logs.enabled")) return nullptr;
         return std::make_unique<pod_logs::PodLogsReceiver>(pod_logs::optionsFromConfig(ctx.config, ctx.data_dir),
                                                            ctx.pipeline, ctx.store, &ctx.metrics);
       }},
      {"otlp",
       [](const CollectorContext& ctx) -> std::unique_ptr<Component> {
         auto o = otlp::optionsFromConfig(ctx.config);
         if (o.http_listen.empty() && o.grpc_listen.empty()) return nullptr;
         return std::make_unique<otlp::Receiver>(std::move(o), ctx.pipeline, ctx.metrics);
       }},
      {"host_metrics",
       [](const CollectorContext& ctx) -> std::unique_ptr<Component> {
         if (!ctx.config.boolean("host_metrics.enabled")) return nullptr;
         return std::make_unique<host_metrics::HostMetricsReceiver>(host_metrics::optionsFromConfig(ctx.config),
                                                                    ctx.pipeline, &ctx.metrics);
       }},
      {"kubelet_stats",
       [](const CollectorContext& ctx) -> std::unique_ptr<Component> {
         if (ctx.demo || !ctx.config.boolean("kubelet_stats.enabled")) return nullptr;
         return std::make_unique<kubelet_stats::KubeletStatsReceiver>(kubelet_stats::optionsFromConfig(ctx.config),
                                                                      ctx.pipeline, &ctx.metrics);
       }},
      {"k8s_cluster",
       [](const CollectorContext& ctx) -> std::unique_ptr<Component> {
         if (ctx.demo || !ctx.config.boolean("k8s_cluster.enabled")) return nullptr;
         return std::make_unique<k8s_cluster::K8sClusterReceiver>(k8s_cluster::optionsFromConfig(ctx.config),
                                                                  ctx.pipeline, &ctx.metrics);
       }},
  };
}

}  // namespace kobs::collect
