// PodMetadata: the pods of one node (a list+watch with
// fieldSelector=spec.nodeName=<node>) or of the whole cluster (no node), each
// with what rows about it carry: labels, owner workload, and the Krateo
// composition id (the pod's label, else the owner chain through the shared
// CompositionResolver, exactly as for events). Used by pod logs (by uid) and
// by the OTLP receiver's Kubernetes enrichment (by uid or by pod IP).
//
// Resource attributes (the k8sattributes processor's names):
//   k8s.pod.labels.<key>, k8s.replicaset.name, k8s.deployment.name (the
//   ReplicaSet's name minus its pod-template-hash), k8s.statefulset.name,
//   k8s.daemonset.name, k8s.job.name, and krateo.composition.id.
// Deleted pods are kept (bounded) so lines written just before a deletion
// still find their metadata; the lookups that take a grace period ignore a
// pod deleted longer ago than that (its IP may belong to another pod soon).
// Pods on the host network share their node's IP and are not indexed by IP.
//
// Threading: one thread connects (retrying with backoff while no cluster is
// reachable) and runs the ListWatcher; handlers and resolver calls run on
// it. find() may be called from any thread (a mutex over the map; entries
// are immutable, shared by pointer).
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "collect/composition/composition_resolver.h"
#include "common/config_table.h"
#include "k8s/cluster_config.h"
#include "pipeline/record.h"

namespace kobs::collect::k8s_pods {

struct PodInfo {
  std::string ns;
  std::string name;
  std::string uid;
  std::string node_name;
  std::vector<std::string> ips;  // status.podIPs (status.podIP); empty on the host network
  std::string composition_id;
  pipeline::Attributes resource;  // labels and owner workload (see above)
};

struct PodMetadataOptions {
  std::function<k8s::ClusterConfig()> cluster;  // throws when none is configured
  std::string node_name;  // empty: every pod of the cluster
  bool resolve = true;
  composition::ResolverOptions resolver;
  size_t max_deleted = 10000;  // deleted pods remembered
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
};

class PodMetadata {
 public:
  explicit PodMetadata(PodMetadataOptions options);
  ~PodMetadata();

  void start();
  void stop();  // idempotent

  std::shared_ptr<const PodInfo> find(const std::string& uid) const;
  // By uid or by pod IP, unless the pod was deleted more than `grace` ago.
  std::shared_ptr<const PodInfo> findLive(const std::string& uid, std::chrono::milliseconds grace) const;
  std::shared_ptr<const PodInfo> findByIp(const std::string& ip, std::chrono::milliseconds grace) const;
  bool synced() const { return synced_.load(); }
  size_t size() const;
  const composition::CompositionResolver* resolver() const { return resolver_.get(); }

  // The attributes of a pod object (JSON), composition id left to the caller.
  static PodInfo describe(std::string_view pod_json, const std::string& label_key);

 private:
  void run(std::stop_token stop);
  void upsert(std::string_view pod_json);
  void remove(std::string_view pod_json);

  PodMetadataOptions options_;
  std::unique_ptr<composition::CompositionResolver> resolver_;
  mutable std::mutex mutex_;
  bool deletedLongAgoLocked(const std::string& uid, std::chrono::milliseconds grace) const;

  std::unordered_map<std::string, std::shared_ptr<const PodInfo>> pods_;
  std::unordered_map<std::string, std::string> by_ip_;  // pod IP -> uid of the newest pod holding it
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> deleted_at_;
  std::deque<std::string> deleted_;  // uids, oldest first
  std::atomic<bool> synced_{false};
  std::jthread thread_;
};

// The options shared by every pod watch (cluster access, composition
// resolver), from the k8s.* and composition.* keys; node_name left empty.
PodMetadataOptions optionsFromConfig(const config::Values& values);

}  // namespace kobs::collect::k8s_pods
