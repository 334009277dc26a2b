#include "collect/kubelet_stats/summary_mapper.h"

#include <simdjson.h>

#include "collect/scrape/metric_builder.h"
#include "common/error.h"
#include "common/rfc3339.h"

namespace kobs::collect::kubelet_stats {

namespace {

using pipeline::MetricType;
using scrape::MetricDef;
namespace dom = simdjson::dom;

constexpr auto kGauge = MetricType::kGauge;
constexpr auto kSum = MetricType::kSum;

// One entity's metric names (the kubeletstats receiver's metadata).
struct Defs {
  MetricDef cpu_time, cpu_usage;
  MetricDef mem_available, mem_usage, mem_rss, mem_working_set, mem_page_faults, mem_major_page_faults;
  MetricDef fs_available, fs_capacity, fs_usage;
  MetricDef net_io, net_errors;
};

#define KOBS_KS_DEFS(P, WHO)                                                                                   \
  Defs {                                                                                                       \
    {P "cpu.time", kSum, "s", true, "CPU time of the " WHO " since it started (all cores)."},                  \
        {P "cpu.usage", kGauge, "{cpu}", false, "Cores the " WHO " used, averaged over the kubelet's window."}, \
        {P "memory.available", kGauge, "By", false, "Memory available to the " WHO "."},                        \
        {P "memory.usage", kGauge, "By", false, "Memory used by the " WHO "."},                                 \
        {P "memory.rss", kGauge, "By", false, "Resident memory of the " WHO "."},                               \
        {P "memory.working_set", kGauge, "By", false, "Working set memory of the " WHO "."},                    \
        {P "memory.page_faults", kGauge, "1", false, "Page faults of the " WHO "."},                             \
        {P "memory.major_page_faults", kGauge, "1", false, "Major page faults of the " WHO "."},                \
        {P "filesystem.available", kGauge, "By", false, "Filesystem bytes available to the " WHO "."},          \
        {P "filesystem.capacity", kGauge, "By", false, "Filesystem capacity of the " WHO "."},                  \
        {P "filesystem.usage", kGauge, "By", false, "Filesystem bytes used by the " WHO "."},                   \
        {P "network.io", kSum, "By", true, "Bytes the " WHO " received and sent."},                             \
        {P "network.errors", kSum, "1", true, "Network errors of the " WHO "."},                                \
  }

const Defs kNode = KOBS_KS_DEFS("k8s.node.", "node");
const Defs kPod = KOBS_KS_DEFS("k8s.pod.", "pod");
const Defs kContainer = KOBS_KS_DEFS("container.", "container");

constexpr MetricDef kVolAvailable{"k8s.volume.available", kGauge, "By", false, "Bytes available in the volume."};
constexpr MetricDef kVolCapacity{"k8s.volume.capacity", kGauge, "By", false, "Capacity of the volume in bytes."};
constexpr MetricDef kVolInodes{"k8s.volume.inodes", kGauge, "1", false, "Inodes of the volume's filesystem."};
constexpr MetricDef kVolInodesFree{"k8s.volume.inodes.free", kGauge, "1", false, "Free inodes of the volume."};
constexpr MetricDef kVolInodesUsed{"k8s.volume.inodes.used", kGauge, "1", false, "Inodes the volume uses."};

// A numeric field of an object, when present.
bool num(dom::element obj, std::string_view key, double& out) {
  dom::element v;
  if (obj.at_key(key).get(v) != simdjson::SUCCESS) return false;
  uint64_t u;
  if (v.get_uint64().get(u) == simdjson::SUCCESS) {
    out = double(u);
    return true;
  }
  int64_t i;
  if (v.get_int64().get(i) == simdjson::SUCCESS) {
    out = double(i);
    return true;
  }
  return v.get_double().get(out) == simdjson::SUCCESS;
}

std::string_view str(dom::element obj, std::string_view key) {
  std::string_view s;
  if (obj.at_key(key).get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}

bool child(dom::element obj, std::string_view key, dom::element& out) {
  return obj.at_key(key).get(out) == simdjson::SUCCESS && out.is_object();
}

int64_t startOf(dom::element obj) {
  auto t = str(obj, "startTime");
  if (t.empty()) return 0;
  return rfc3339::parseNanos(t).value_or(0);
}

void addCpu(scrape::MetricBuilder& b, const Defs& d, dom::element entity) {
  dom::element cpu;
  if (!child(entity, "cpu", cpu)) return;
  double v;
  if (num(cpu, "usageCoreNanoSeconds", v)) b.add(d.cpu_time, v / 1e9);
  if (num(cpu, "usageNanoCores", v)) b.add(d.cpu_usage, v / 1e9);
}

void addMemory(scrape::MetricBuilder& b, const Defs& d, dom::element entity) {
  dom::element m;
  if (!child(entity, "memory", m)) return;
  double v;
  if (num(m, "availableBytes", v)) b.add(d.mem_available, v);
  if (num(m, "usageBytes", v)) b.add(d.mem_usage, v);
  if (num(m, "rssBytes", v)) b.add(d.mem_rss, v);
  if (num(m, "workingSetBytes", v)) b.add(d.mem_working_set, v);
  if (num(m, "pageFaults", v)) b.add(d.mem_page_faults, v);
  if (num(m, "majorPageFaults", v)) b.add(d.mem_major_page_faults, v);
}

void addFs(scrape::MetricBuilder& b, const Defs& d, dom::element entity, std::string_view key) {
  dom::element fs;
  if (!child(entity, key, fs)) return;
  double v;
  if (num(fs, "availableBytes", v)) b.add(d.fs_available, v);
  if (num(fs, "capacityBytes", v)) b.add(d.fs_capacity, v);
  if (num(fs, "usedBytes", v)) b.add(d.fs_usage, v);
}

void addNetwork(scrape::MetricBuilder& b, const Defs& d, dom::element entity) {
  dom::element n;
  if (!child(entity, "network", n)) return;
  const std::string iface(str(n, "name"));
  double v;
  if (num(n, "rxBytes", v)) b.add(d.net_io, v, {{"interface", iface}, {"direction", "receive"}});
  if (num(n, "txBytes", v)) b.add(d.net_io, v, {{"interface", iface}, {"direction", "transmit"}});
  if (num(n, "rxErrors", v)) b.add(d.net_errors, v, {{"interface", iface}, {"direction", "receive"}});
  if (num(n, "txErrors", v)) b.add(d.net_errors, v, {{"interface", iface}, {"direction", "transmit"}});
}

}  // namespace

struct SummaryMapper::Impl {
  MapperOptions options;
  dom::parser parser;
  simdjson::padded_string buffer;
  std::shared_ptr<const pipeline::Scope> scope;
};

SummaryMapper::SummaryMapper(MapperOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  auto scope = std::make_shared<pipeline::Scope>();
  scope->name = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kubeletstatsreceiver";
  scope->version = "kobs";
  impl_->scope = std::move(scope);
}

SummaryMapper::~SummaryMapper() = default;

std::vector<pipeline::MetricPoint> SummaryMapper::map(std::string_view json, int64_t now,
                                                      const CompositionLookup& lookup) {
  auto& im = *impl_;
  const auto& groups = im.options.groups;
  dom::element doc;
  if (auto err = im.parser.parse(json.data(), json.size(), true).get(doc))
    throw Exception(ErrorCode::kBadInput, "kubelet summary is not JSON: {}", simdjson::error_message(err));
  dom::element node;
  if (!doc.is_object() || !child(doc, "node", node))
    throw Exception(ErrorCode::kBadInput, "kubelet summary has no node object");

  scrape::MetricBuilder b(im.scope, now);
  std::string node_name(str(node, "nodeName"));
  if (node_name.empty()) node_name = im.options.node_name;

  if (groups.count("node")) {
    auto r = std::make_shared<pipeline::Resource>();
    r->attributes.emplace_back("k8s.node.name", node_name);
    b.setResource(std::move(r));
    b.setStart(startOf(node));
    addCpu(b, kNode, node);
    addMemory(b, kNode, node);
    addFs(b, kNode, node, "fs");
    addNetwork(b, kNode, node);
  }

  dom::array pods;
  if (doc.at_key("pods").get_array().get(pods) != simdjson::SUCCESS) return std::move(b.points());
  // Points per pod: 17 of its own, 11 per container, 5 per volume (typically 3 containers, 2 volumes).
  b.points().reserve(b.points().size() + pods.size() * 60);
  for (dom::element pod : pods) {
    dom::element ref;
    if (!child(pod, "podRef", ref)) continue;
    PodRef pr{std::string(str(ref, "namespace")), std::string(str(ref, "name")), std::string(str(ref, "uid"))};
    pipeline::Attributes pod_attrs{{"k8s.pod.uid", pr.uid}, {"k8s.pod.name", pr.name},
                                   {"k8s.namespace.name", pr.ns}, {"k8s.node.name", node_name}};
    if (lookup) {
      const std::string id = lookup(pr);
      if (!id.empty()) {
        pod_attrs.emplace_back("krateo.io/composition-id", id);
        pod_attrs.emplace_back("krateo.composition.id", id);
      }
    }
    const int64_t pod_start = startOf(pod);
    if (groups.count("pod")) {
      b.setResource(std::make_shared<pipeline::Resource>(pipeline::Resource{pod_attrs, {}}));
      b.setStart(pod_start);
      addCpu(b, kPod, pod);
      addMemory(b, kPod, pod);
      addFs(b, kPod, pod, "ephemeral-storage");
      addNetwork(b, kPod, pod);
    }
    dom::array containers;
    if (groups.count("container") && pod.at_key("containers").get_array().get(containers) == simdjson::SUCCESS) {
      for (dom::element c : containers) {
        auto attrs = pod_attrs;
        attrs.emplace_back("k8s.container.name", std::string(str(c, "name")));
        b.setResource(std::make_shared<pipeline::Resource>(pipeline::Resource{std::move(attrs), {}}));
        b.setStart(startOf(c));
        addCpu(b, kContainer, c);
        addMemory(b, kContainer, c);
        addFs(b, kContainer, c, "rootfs");
      }
    }
    dom::array volumes;
    if (groups.count("volume") && pod.at_key("volume").get_array().get(volumes) == simdjson::SUCCESS) {
      for (dom::element v : volumes) {
        auto attrs = pod_attrs;
        attrs.emplace_back("k8s.volume.name", std::string(str(v, "name")));
        dom::element pvc;
        if (child(v, "pvcRef", pvc)) {
          attrs.emplace_back("k8s.volume.type", "persistentVolumeClaim");
          attrs.emplace_back("k8s.persistentvolumeclaim.name", std::string(str(pvc, "name")));
        }
        b.setResource(std::make_shared<pipeline::Resource>(pipeline::Resource{std::move(attrs), {}}));
        b.setStart(pod_start);
        double x;
        if (num(v, "availableBytes", x)) b.add(kVolAvailable, x);
        if (num(v, "capacityBytes", x)) b.add(kVolCapacity, x);
        if (num(v, "inodes", x)) b.add(kVolInodes, x);
        if (num(v, "inodesFree", x)) b.add(kVolInodesFree, x);
        if (num(v, "inodesUsed", x)) b.add(kVolInodesUsed, x);
      }
    }
  }
  return std::move(b.points());
}

}  // namespace kobs::collect::kubelet_stats
