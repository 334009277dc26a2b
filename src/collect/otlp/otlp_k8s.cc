#include "collect/otlp/otlp_k8s.h"

#include <algorithm>

namespace kobs::collect::otlp {

namespace {

// The keys added, in this order, each only when the resource lacks it.
template <typename Add>
void podAttributes(const k8s_pods::PodInfo& p, Add&& add) {
  add("k8s.namespace.name", p.ns);
  add("k8s.pod.name", p.name);
  add("k8s.pod.uid", p.uid);
  if (!p.node_name.empty()) add("k8s.node.name", p.node_name);
  static constexpr std::string_view kOwners[] = {"k8s.replicaset.name", "k8s.deployment.name", "k8s.statefulset.name",
                                                 "k8s.daemonset.name", "k8s.job.name"};
  for (const auto& [k, v] : p.resource)
    if (std::find(std::begin(kOwners), std::end(kOwners), k) != std::end(kOwners))
      if (const auto* s = std::get_if<std::string>(&v.value)) add(k, *s);
  if (!p.composition_id.empty()) add("krateo.io/composition-id", p.composition_id);
}

}  // namespace

std::string peerIp(std::string_view peer) {
  std::string p(peer);
  if (p.starts_with("ipv4:") || p.starts_with("ipv6:")) {
    p = p.substr(5);
    for (std::string_view enc : {"%5B", "%5b"})
      if (p.starts_with(enc)) p = "[" + p.substr(3);
    for (std::string_view enc : {"%5D", "%5d"})
      if (auto at = p.find(enc); at != std::string::npos) p = p.substr(0, at) + "]" + p.substr(at + 3);
    if (p.starts_with("[")) {
      auto end = p.find(']');
      p = end == std::string::npos ? p.substr(1) : p.substr(1, end - 1);
    } else if (auto colon = p.rfind(':'); colon != std::string::npos) {
      p = p.substr(0, colon);
    }
  }
  // An IPv4 client of a dual-stack listener.
  if (p.starts_with("::ffff:") && p.find('.') != std::string::npos) p = p.substr(7);
  return p;
}

K8sEnricher::K8sEnricher(k8s_pods::PodMetadataOptions pods, std::chrono::milliseconds grace)
    : pods_(std::move(pods)), grace_(grace) {}

std::shared_ptr<const k8s_pods::PodInfo> K8sEnricher::match(std::string_view pod_uid, const std::string& ip) const {
  if (!pod_uid.empty()) return pods_.findLive(std::string(pod_uid), grace_);
  if (ip.empty()) return nullptr;
  return pods_.findByIp(ip, grace_);
}

void K8sEnricher::enrich(RefStorage& storage, const std::string& ip) const {
  for (auto* r : storage.resources) {
    std::string_view uid;
    for (const auto& a : r->attributes)
      if (a.key == "k8s.pod.uid" && a.value.kind == pipeline::AnyValueRef::kString) uid = a.value.s;
    auto pod = match(uid, ip);
    if (!pod) continue;
    std::vector<pipeline::AttributeRef> added;
    podAttributes(*pod, [&](std::string_view key, std::string_view value) {
      for (const auto& a : r->attributes)
        if (a.key == key) return;
      pipeline::AttributeRef kv;
      kv.key = key;
      kv.value.kind = pipeline::AnyValueRef::kString;
      kv.value.s = value;
      added.push_back(kv);
    });
    if (added.empty()) continue;
    auto* attrs = storage.allocate<pipeline::AttributeRef>(r->attributes.size() + added.size());
    std::copy(r->attributes.begin(), r->attributes.end(), attrs);
    std::copy(added.begin(), added.end(), attrs + r->attributes.size());
    r->attributes = {attrs, r->attributes.size() + added.size()};
    r->encoded = encodeMap(storage, r->attributes);
    storage.keep.push_back(pod);  // the added values point into it
  }
}

std::shared_ptr<const pipeline::Resource> K8sEnricher::enriched(const std::shared_ptr<const pipeline::Resource>& r,
                                                                const std::string& ip) const {
  std::string_view uid;
  for (const auto& [k, v] : r->attributes)
    if (k == "k8s.pod.uid")
      if (const auto* s = std::get_if<std::string>(&v.value)) uid = *s;
  auto pod = match(uid, ip);
  if (!pod) return r;
  auto out = std::make_shared<pipeline::Resource>(*r);
  podAttributes(*pod, [&](std::string_view key, const std::string& value) {
    for (const auto& a : r->attributes)
      if (a.first == key) return;
    out->attributes.emplace_back(std::string(key), value);
  });
  return out;
}

}  // namespace kobs::collect::otlp
