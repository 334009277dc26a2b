// Kubernetes enrichment of OTLP resources (otlp.k8s_attributes, off by
// default), as the OpenTelemetry Collector's k8sattributes processor does it:
// the sending pod is the one whose uid the resource already names
// (k8s.pod.uid), else the one whose IP the request came from, found in a
// cluster-wide pod watch (collect/k8s_pods). Its resource gains the keys it
// does not have yet: k8s.namespace.name, k8s.pod.name, k8s.pod.uid,
// k8s.node.name, the owner workload (k8s.replicaset.name, k8s.deployment.name,
// k8s.statefulset.name, k8s.daemonset.name, k8s.job.name) and
// krateo.io/composition-id (the composition resolver's answer, as for events
// and pod logs). A request from an IP no pod holds is left as it is; a pod
// deleted more than `grace` ago no longer matches (its IP may be reused).
//
// Threading: the pod watch runs on its own thread; match() and the enrich
// functions may be called from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collect/k8s_pods/pod_metadata.h"
#include "collect/otlp/otlp_wire.h"
#include "pipeline/record.h"

namespace kobs::collect::otlp {

// "10.1.2.3" from a peer as the transports give it: "10.1.2.3",
// "::ffff:10.1.2.3", "ipv4:10.1.2.3:4567", "ipv6:[fd00::1]:4567" (gRPC,
// brackets maybe percent-encoded).
std::string peerIp(std::string_view peer);

class K8sEnricher {
 public:
  K8sEnricher(k8s_pods::PodMetadataOptions pods, std::chrono::milliseconds grace);
  void start() { pods_.start(); }
  void stop() { pods_.stop(); }
  const k8s_pods::PodMetadata& pods() const { return pods_; }

  // The pod for a resource naming `pod_uid` (may be empty) sent from `ip`.
  std::shared_ptr<const k8s_pods::PodInfo> match(std::string_view pod_uid, const std::string& ip) const;

  // Adds the pod's attributes to every resource of a request (borrowed
  // records: new attribute arrays and maps in the request's storage; the
  // PodInfo is kept with it).
  void enrich(RefStorage& storage, const std::string& ip) const;
  // The same for owning records: each distinct resource is replaced by an
  // enriched copy.
  template <typename Record>
  void enrich(std::vector<Record>& records, const std::string& ip) const;

 private:
  std::shared_ptr<const pipeline::Resource> enriched(const std::shared_ptr<const pipeline::Resource>& r,
                                                     const std::string& ip) const;

  k8s_pods::PodMetadata pods_;
  std::chrono::milliseconds grace_;
};

template <typename Record>
void K8sEnricher::enrich(std::vector<Record>& records, const std::string& ip) const {
  const pipeline::Resource* last_in = nullptr;
  std::shared_ptr<const pipeline::Resource> last_out;
  for (auto& r : records) {
    if (!r.resource) continue;
    // Records of one ResourceX share their resource and come together.
    if (r.resource.get() != last_in) {
      last_in = r.resource.get();
      last_out = enriched(r.resource, ip);
    }
    r.resource = last_out;
  }
}

}  // namespace kobs::collect::otlp
