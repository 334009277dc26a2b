// K8sClusterReceiver: the cluster collector's k8s_cluster metrics, from
// watches (not polling): one ListWatcher per kind (pods, nodes, namespaces,
// deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs, HPAs,
// resource quotas, replication controllers; a kind whose metrics are all
// disabled is not watched) keeps a ClusterState current, and every
// collection_interval the state is emitted into otel_metrics_gauge: the first
// tick waits for every kind to list, later ticks emit what has listed (a kind
// the service account may not list does not silence the others).
//
// One active replica: with leader election on, replicas elect through a
// coordination.k8s.io/v1 Lease (LeaderElector, as k8s_events does); every
// replica keeps its watches (a standby takes over with a warm cache), only
// the leader emits.
//
// Composition ids: the object's krateo.io/composition-id label, else its
// owner chain through the shared CompositionResolver (cached by uid).
//
// Threading: a control thread connects (retrying while no cluster is
// reachable), starts the watchers and ticks the elector; each ListWatcher
// runs on its own thread and updates the state; the ScrapeLoop thread emits.
// start()/shutdown() on the main thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "collect/composition/composition_resolver.h"
#include "collect/k8s_cluster/cluster_state.h"
#include "collect/k8s_events/leader_elector.h"
#include "collect/scrape/scrape_loop.h"
#include "common/component.h"
#include "common/config_table.h"
#include "common/metrics.h"
#include "k8s/cluster_config.h"
#include "pipeline/pipeline.h"

namespace kobs::k8s {
class ApiClient;
class ListWatcher;
}  // namespace kobs::k8s

namespace kobs::collect::k8s_cluster {

struct K8sClusterOptions {
  std::function<k8s::ClusterConfig()> cluster;  // throws when none is configured
  StateOptions state;
  std::chrono::milliseconds interval{60000};
  bool start_jitter = true;
  int watch_timeout_seconds = 300;
  k8s_events::LeaderElectionOptions leader;
  bool resolve = true;
  composition::ResolverOptions resolver;
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
  // How long emissions wait for every watched kind to list before emitting without the missing ones
  // (at least one interval).
  std::chrono::milliseconds list_grace{30000};
};

std::vector<config::KeySpec> configKeys();
K8sClusterOptions optionsFromConfig(const config::Values& values);

class K8sClusterReceiver : public Component {
 public:
  K8sClusterReceiver(K8sClusterOptions options, pipeline::Pipeline& pipeline, metrics::Registry* registry);
  ~K8sClusterReceiver() override;

  std::string_view name() const override { return "k8s_cluster"; }
  void start() override;
  void shutdown(std::chrono::steady_clock::time_point deadline) override;

  const ClusterState& state() const { return state_; }
  bool leading() const { return leading_.load(); }
  uint64_t emissions() const { return emissions_.load(); }
  // Emissions made while some watched kind had not listed (after list_grace).
  uint64_t partialEmissions() const { return partial_.load(); }
  const scrape::ScrapeLoop& loop() const { return *loop_; }

 private:
  void run(std::stop_token stop);
  bool connect();
  void emitOnce();

  K8sClusterOptions options_;
  pipeline::Pipeline& pipeline_;
  ClusterState state_;
  std::unique_ptr<k8s::ApiClient> api_;
  std::unique_ptr<k8s_events::LeaderElector> elector_;
  std::unique_ptr<composition::CompositionResolver> resolver_;
  std::vector<std::unique_ptr<k8s::ListWatcher>> watchers_;
  std::atomic<bool> connected_{false};
  bool unreachable_logged_ = false;  // control thread only
  std::atomic<bool> leading_{false};
  std::atomic<uint64_t> emissions_{0};
  std::atomic<uint64_t> partial_{0};
  // One emission's points, reused: its ~30 MB for 10,000 pods stay mapped between emissions (ScrapeLoop thread).
  std::vector<pipeline::MetricPoint> points_buffer_;
  int64_t start_unix_nano_ = 0;
  metrics::Counter* points_ = nullptr;
  metrics::Counter* dropped_ = nullptr;
  metrics::Counter* unsynced_ = nullptr;
  std::atomic<std::chrono::steady_clock::rep> connected_at_{0};  // steady clock, when the watches started
  bool unsynced_logged_ = false;   // ScrapeLoop thread only
  std::unique_ptr<scrape::ScrapeLoop> loop_;
  std::jthread thread_;
};

}  // namespace kobs::collect::k8s_cluster
