#include "collect/pod_logs/pod_metadata.h"

#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "k8s/api_client.h"
#include "k8s/list_watcher.h"

namespace kobs::collect::pod_logs {

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

size_t PodMetadata::size() const {
  std::lock_guard lock(mutex_);
  return pods_.size();
}

PodInfo PodMetadata::describe(std::string_view pod_json, const std::string& label_key) {
  PodInfo p;
  auto j = json::parse(pod_json);
  const auto& meta = j.at("metadata");
  p.ns = meta.value("namespace", "");
  p.name = meta.value("name", "");
  p.uid = meta.value("uid", "");
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
    logging::get("pod_logs")->warn("pod watch: unreadable pod object skipped: {}", e.what());
    return;
  }
  if (p.uid.empty()) return;
  if (p.composition_id.empty() && resolver_)
    p.composition_id = resolver_->resolve({"v1", "Pod", p.ns, p.name, p.uid});
  if (!p.composition_id.empty()) p.resource.emplace_back("krateo.composition.id", p.composition_id);
  auto info = std::make_shared<const PodInfo>(std::move(p));
  std::lock_guard lock(mutex_);
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
  deleted_.push_back(uid);
  while (deleted_.size() > options_.max_deleted) {
    pods_.erase(deleted_.front());
    deleted_.pop_front();
  }
}

void PodMetadata::run(std::stop_token stop) {
  auto log = logging::get("pod_logs");
  auto backoff = options_.backoff_initial;
  std::unique_ptr<k8s::ApiClient> api;
  while (!stop.stop_requested() && !api) {
    try {
      api = std::make_unique<k8s::ApiClient>(options_.cluster());
    } catch (const std::exception& e) {
      log->warn("pod watch: no cluster ({}); log rows go without pod labels and composition ids; retrying in {} ms",
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
  wo.field_selector = "spec.nodeName=" + options_.node_name;
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

}  // namespace kobs::collect::pod_logs
