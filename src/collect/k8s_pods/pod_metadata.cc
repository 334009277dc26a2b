#include "collect/k8s_pods/pod_metadata.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "common/logging.h"
#include "k8s/api_client.h"
#include "k8s/list_watcher.h"

namespace kobs::collect::k8s_pods {

using nlohmann::json;

PodMetadata::PodMetadata(PodMetadataOptions options) : options_(std::move(options)) {}

PodMetadata::~PodMetadata() { stop(); }

void PodMetadata::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void PodMetadata::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

std::shared_ptr<const PodInfo> PodMetadata::find(const std::string& uid) const {
  std::lock_guard lock(mutex_);
  auto it = pods_.find(uid);
  return it == pods_.end() ? nullptr : it->second;
}

bool PodMetadata::deletedLongAgoLocked(const std::string& uid, std::chrono::milliseconds grace) const {
  auto it = deleted_at_.find(uid);
  return it != deleted_at_.end() && std::chrono::steady_clock::now() - it->second > grace;
}

std::shared_ptr<const PodInfo> PodMetadata::findLive(const std::string& uid, std::chrono::milliseconds grace) const {
  std::lock_guard lock(mutex_);
  auto it = pods_.find(uid);
  if (it == pods_.end() || deletedLongAgoLocked(uid, grace)) return nullptr;
  return it->second;
}

std::shared_ptr<const PodInfo> PodMetadata::findByIp(const std::string& ip, std::chrono::milliseconds grace) const {
  std::lock_guard lock(mutex_);
  auto ip_it = by_ip_.find(ip);
  if (ip_it == by_ip_.end()) return nullptr;
  auto it = pods_.find(ip_it->second);
  if (it == pods_.end() || deletedLongAgoLocked(ip_it->second, grace)) return nullptr;
  return it->second;
}

size_t PodMetadata::size() const {
  std::lock_guard lock(mutex_);
  return pods_.size();
}

PodInfo PodMetadata::describe(std::string_view pod_json, const std::string& label_key) {
  PodInfo p;
  bool host_network = false;
  auto j = json::parse(pod_json);
  const auto& meta = j.at("metadata");
  p.ns = meta.value("namespace", "");
  p.name = meta.value("name", "");
  p.uid = meta.value("uid", "");
  if (j.contains("spec") && j["spec"].is_object()) {
    p.node_name = j["spec"].value("nodeName", "");
    if (j["spec"].value("hostNetwork", false)) host_network = true;
  }
  if (!host_network && j.contains("status") && j["status"].is_object()) {
    const auto& st = j["status"];
    if (st.contains("podIPs") && st["podIPs"].is_array())
      for (const auto& ip : st["podIPs"])
        if (ip.is_object() && ip.contains("ip") && ip["ip"].is_string()) p.ips.push_back(ip["ip"].get<std::string>());
    const std::string primary = st.value("podIP", "");
    if (!primary.empty() && std::find(p.ips.begin(), p.ips.end(), primary) == p.ips.end()) p.ips.push_back(primary);
  }
  std::string template_hash;
  if (meta.contains("labels") && meta["labels"].is_object()) {
    for (auto& [k, v] : meta["labels"].items()) {
      if (!v.is_string()) continue;
      p.resource.emplace_back("k8s.pod.labels." + k, v.get<std::string>());
      if (k == label_key) p.composition_id = v.get<std::string>();
      if (k == "pod-template-hash") template_hash = v.get<std::string>();
    }
  }
  if (meta.contains("ownerReferences") && meta["ownerReferences"].is_array()) {
    for (const auto& o : meta["ownerReferences"]) {
      if (!o.value("controller", false)) continue;
      const std::string kind = o.value("kind", ""), name = o.value("name", "");
      if (kind == "ReplicaSet") {
        p.resource.emplace_back("k8s.replicaset.name", name);
        // The deployment controller names its ReplicaSets <deployment>-<pod-template-hash>.
        if (!template_hash.empty() && name.size() > template_hash.size() + 1 &&
            name.ends_with("-" + template_hash))
          p.resource.emplace_back("k8s.deployment.name", name.substr(0, name.size() - template_hash.size() - 1));
      } else if (kind == "StatefulSet") {
        p.resource.emplace_back("k8s.statefulset.name", name);
      } else if (kind == "DaemonSet") {
        p.resource.emplace_back("k8s.daemonset.name", name);
      } else if (kind == "Job") {
        p.resource.emplace_back("k8s.job.name", name);
      }
    }
  }
  return p;
}

void PodMetadata::upsert(std::string_view pod_json) {
  PodInfo p;
  try {
    p = describe(pod_json, options_.resolver.label_key);
  } catch (const std::exception& e) {
    logging::get("pod_watch")->warn("pod watch: unreadable pod object skipped: {}", e.what());
    return;
  }
  if (p.uid.empty()) return;
  if (p.composition_id.empty() && resolver_)
    p.composition_id = resolver_->resolve({"v1", "Pod", p.ns, p.name, p.uid});
  if (!p.composition_id.empty()) p.resource.emplace_back("krateo.composition.id", p.composition_id);
  auto info = std::make_shared<const PodInfo>(std::move(p));
  std::lock_guard lock(mutex_);
  if (auto old = pods_.find(info->uid); old != pods_.end())
    for (const auto& ip : old->second->ips)
      if (auto at = by_ip_.find(ip); at != by_ip_.end() && at->second == info->uid) by_ip_.erase(at);
  // The newest pod with an IP holds it: a deleted pod's IP goes to its successor.
  for (const auto& ip : info->ips) by_ip_[ip] = info->uid;
  pods_[info->uid] = std::move(info);
}

void PodMetadata::remove(std::string_view pod_json) {
  std::string uid;
  try {
    uid = json::parse(pod_json).at("metadata").value("uid", "");
  } catch (const std::exception&) {
    return;
  }
  // Kept a while: the pod's last lines may still be read after its deletion.
  std::lock_guard lock(mutex_);
  if (!pods_.count(uid) || deleted_at_.count(uid)) return;
  deleted_.push_back(uid);
  deleted_at_[uid] = std::chrono::steady_clock::now();
  while (deleted_.size() > options_.max_deleted) {
    const auto& gone = deleted_.front();
    if (auto it = pods_.find(gone); it != pods_.end()) {
      for (const auto& ip : it->second->ips)
        if (auto at = by_ip_.find(ip); at != by_ip_.end() && at->second == gone) by_ip_.erase(at);
      pods_.erase(it);
    }
    deleted_at_.erase(gone);
    deleted_.pop_front();
  }
}

void PodMetadata::run(std::stop_token stop) {
  auto log = logging::get("pod_watch");
  auto backoff = options_.backoff_initial;
  std::unique_ptr<k8s::ApiClient> api;
  while (!stop.stop_requested() && !api) {
    try {
      api = std::make_unique<k8s::ApiClient>(options_.cluster());
    } catch (const std::exception& e) {
      log->warn("pod watch: no cluster ({}); rows go without pod metadata and composition ids; retrying in {} ms",
                e.what(), backoff.count());
      std::mutex m;
      std::unique_lock lock(m);
      std::condition_variable_any cv;
      cv.wait_for(lock, stop, backoff, [] { return false; });
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
  }
  if (!api) return;
  if (options_.resolve) resolver_ = std::make_unique<composition::CompositionResolver>(composition::apiFetcher(*api), options_.resolver);
  k8s::ListWatcherOptions wo;
  wo.resource = {"", "v1", "pods"};
  if (!options_.node_name.empty()) wo.field_selector = "spec.nodeName=" + options_.node_name;
  wo.backoff_initial = options_.backoff_initial;
  wo.backoff_max = options_.backoff_max;
  k8s::ListWatcherHandlers h;
  h.on_list = [this](std::vector<std::string>& items, const std::string&, k8s::ListReason) {
    for (const auto& item : items) upsert(item);
    synced_ = true;
  };
  h.on_event = [this](k8s::WatchEventType type, std::string_view object, std::string_view) {
    if (type == k8s::WatchEventType::kDeleted) remove(object);
    else upsert(object);
  };
  k8s::ListWatcher watcher(*api, wo, h);
  watcher.run(stop);
}

PodMetadataOptions optionsFromConfig(const config::Values& v) {
  PodMetadataOptions o;
  k8s::ResolveOptions ro;
  ro.kubeconfig = v.str("k8s.kubeconfig");
  ro.context = v.str("k8s.context");
  o.cluster = [ro] { return k8s::resolveClusterConfig(ro); };
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

}  // namespace kobs::collect::k8s_pods
