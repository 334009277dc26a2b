// SummaryMapper: the kubelet's /stats/summary (stats/v1alpha1 Summary) to
// the data points the collector's kubeletstats receiver emits, with its
// names, units and resource attributes:
//
//   node       k8s.node.{cpu.time,cpu.usage,memory.*,filesystem.*,network.io,network.errors}
//              resource k8s.node.name
//   pod        k8s.pod.{...same...}, filesystem from ephemeral-storage
//              resource k8s.pod.uid, k8s.pod.name, k8s.namespace.name (+ k8s.node.name)
//   container  container.{cpu.time,cpu.usage,memory.*,filesystem.*}, filesystem from rootfs
//              resource the pod's + k8s.container.name
//   volume     k8s.volume.{available,capacity,inodes,inodes.free,inodes.used}
//              resource the pod's + k8s.volume.name, and k8s.volume.type=persistentVolumeClaim
//              with k8s.persistentvolumeclaim.name for a claim
//
// A pod with a Krateo composition (the lookup's answer) gets
// krateo.io/composition-id and krateo.composition.id (the resource attribute
// events and pod logs carry) on its pod, container and volume resources.
//
// Values: cpu.time = usageCoreNanoSeconds / 1e9 (s), cpu.usage =
// usageNanoCores / 1e9 ({cpu}); bytes and counts as the kubelet reports
// them. A field the kubelet left out is not emitted. Network metrics are the
// default interface's (the top-level name/rx/tx), as the receiver reports.
// Timestamps: the scrape time; StartTimeUnix: the node's, pod's or
// container's startTime, so cumulative sums restart with what they count.
//
// Threading: not thread-safe (the parser's buffers are reused); one mapper
// per scrape thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/record.h"

namespace kobs::collect::kubelet_stats {

struct PodRef {
  std::string ns;
  std::string name;
  std::string uid;
};

// The composition id of a pod, "" for none.
using CompositionLookup = std::function<std::string(const PodRef&)>;

struct MapperOptions {
  std::set<std::string> groups{"node", "pod", "container", "volume"};
  std::string node_name;  // fallback when the summary has no node.nodeName
};

class SummaryMapper {
 public:
  explicit SummaryMapper(MapperOptions options = {});
  ~SummaryMapper();

  // Throws kBadInput when the document is not a Summary.
  std::vector<pipeline::MetricPoint> map(std::string_view summary_json, int64_t now_unix_nano,
                                         const CompositionLookup& lookup = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kobs::collect::kubelet_stats
