#include "collect/demo/demo_feed.h"

#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/logging.h"

namespace kobs::collect::demo {
namespace {

using nlohmann::json;
using SysClock = std::chrono::system_clock;

std::string rfc3339(SysClock::time_point t) {
  std::time_t s = SysClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

struct Obj {
  const char* api_version;
  const char* kind;
  const char* name;
  const char* uid;
};

const Obj kComposition{"composition.krateo.io/v1-2-0", "FireworksApp", "fireworks-demo", kDemoCompositionId};
const Obj kDeployment{"apps/v1", "Deployment", "fireworks-demo-frontend", "0b6f7f52-3c1d-4f0e-8d5a-6a9e2f1c7b11"};
const Obj kReplicaSet{"apps/v1", "ReplicaSet", "fireworks-demo-frontend-5d8f7c9b6", "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e21"};
const Obj kService{"v1", "Service", "fireworks-demo-frontend", "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f31"};
const Obj kPodA{"v1", "Pod", "fireworks-demo-frontend-5d8f7c9b6-x7k2p", "3e4f5a6b-7c8d-4e9f-8a1b-2c3d4e5f6a41"};
const Obj kPodB{"v1", "Pod", "fireworks-demo-frontend-5d8f7c9b6-q9m4z", "4f5a6b7c-8d9e-4f0a-9b2c-3d4e5f6a7b51"};
const Obj kBackendDeploy{"apps/v1", "Deployment", "fireworks-demo-backend", "5a6b7c8d-9e0f-4a1b-8c3d-4e5f6a7b8c61"};
const Obj kBackendPod{"v1", "Pod", "fireworks-demo-backend-7f9c8d6b5-r2t8w", "6b7c8d9e-0f1a-4b2c-9d4e-5f6a7b8c9d71"};

struct Spec {
  const Obj* obj;
  const char* reason;
  std::string message;
  const char* type = "Normal";
  const char* component = "";
  const char* host = "";
  const char* field_path = "";
  int count = 1;
};

json event(const Spec& s, SysClock::time_point at, uint64_t rv, uint64_t n) {
  const std::string name = fmt::format("{}.{:016x}", s.obj->name, 0x17a8c2f3b1e40000ull + n);
  json involved = {{"apiVersion", s.obj->api_version}, {"kind", s.obj->kind}, {"name", s.obj->name},
                   {"namespace", kDemoNamespace},       {"uid", s.obj->uid},   {"resourceVersion", std::to_string(1000 + n)}};
  if (*s.field_path) involved["fieldPath"] = s.field_path;
  json source = {{"component", s.component}};
  if (*s.host) source["host"] = s.host;
  const std::string ts = rfc3339(at);
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata",
           {{"name", name},
            {"namespace", kDemoNamespace},
            {"uid", fmt::format("9d0e1f2a-3b4c-4d5e-8f6a-{:012x}", n)},
            {"resourceVersion", std::to_string(rv)},
            {"creationTimestamp", ts}}},
          {"involvedObject", involved},
          {"reason", s.reason},
          {"message", s.message},
          {"source", source},
          {"firstTimestamp", ts},
          {"lastTimestamp", ts},
          {"count", s.count},
          {"type", s.type},
          {"eventTime", nullptr},
          {"reportingComponent", s.component},
          {"reportingInstance", *s.host ? s.host : ""}};
}

constexpr const char* kCdc = "composition-dynamic-controller";
constexpr const char* kNode = "demo-node-1";

}  // namespace

std::vector<DemoNotification> DemoFeed::scenario(SysClock::time_point now) {
  const std::vector<Spec> specs = {
      {&kComposition, "CreatingExternalResource", "Installing Helm release fireworks-demo (chart fireworks-app 1.2.0)", "Normal", kCdc},
      {&kDeployment, "ScalingReplicaSet", "Scaled up replica set fireworks-demo-frontend-5d8f7c9b6 to 2", "Normal", "deployment-controller"},
      {&kService, "EnsuringLoadBalancer", "Ensuring load balancer", "Normal", "service-controller"},
      {&kReplicaSet, "SuccessfulCreate", "Created pod: fireworks-demo-frontend-5d8f7c9b6-x7k2p", "Normal", "replicaset-controller"},
      {&kReplicaSet, "SuccessfulCreate", "Created pod: fireworks-demo-frontend-5d8f7c9b6-q9m4z", "Normal", "replicaset-controller"},
      {&kPodA, "Scheduled", "Successfully assigned demo-system/fireworks-demo-frontend-5d8f7c9b6-x7k2p to demo-node-1", "Normal", "default-scheduler"},
      {&kPodB, "Scheduled", "Successfully assigned demo-system/fireworks-demo-frontend-5d8f7c9b6-q9m4z to demo-node-1", "Normal", "default-scheduler"},
      {&kPodA, "Pulling", "Pulling image \"ghcr.io/krateoplatformops/fireworks-app:1.2.0\"", "Normal", "kubelet", kNode, "spec.containers{frontend}"},
      {&kPodA, "Pulled", "Successfully pulled image \"ghcr.io/krateoplatformops/fireworks-app:1.2.0\" in 2.314s (2.314s including waiting)", "Normal", "kubelet", kNode, "spec.containers{frontend}"},
      {&kPodA, "Created", "Created container frontend", "Normal", "kubelet", kNode, "spec.containers{frontend}"},
      {&kPodA, "Started", "Started container frontend", "Normal", "kubelet", kNode, "spec.containers{frontend}"},
      {&kPodB, "Pulled", "Container image \"ghcr.io/krateoplatformops/fireworks-app:1.2.0\" already present on machine", "Normal", "kubelet", kNode, "spec.containers{frontend}"},
      {&kPodB, "Started", "Started container frontend", "Normal", "kubelet", kNode, "spec.containers{frontend}"},
      {&kService, "EnsuredLoadBalancer", "Ensured load balancer", "Normal", "service-controller"},
      {&kBackendDeploy, "ScalingReplicaSet", "Scaled up replica set fireworks-demo-backend-7f9c8d6b5 to 1", "Normal", "deployment-controller"},
      {&kBackendPod, "Scheduled", "Successfully assigned demo-system/fireworks-demo-backend-7f9c8d6b5-r2t8w to demo-node-1", "Normal", "default-scheduler"},
      {&kBackendPod, "Pulled", "Container image \"ghcr.io/krateoplatformops/fireworks-backend:1.2.0\" already present on machine", "Normal", "kubelet", kNode, "spec.containers{backend}"},
      {&kBackendPod, "Started", "Started container backend", "Normal", "kubelet", kNode, "spec.containers{backend}"},
      {&kComposition, "CreatedExternalResource", "Helm release fireworks-demo installed (revision 1)", "Normal", kCdc},
      {&kComposition, "UpgradingExternalResource", "Upgrading Helm release fireworks-demo to chart fireworks-app 1.2.1", "Normal", kCdc},
      {&kComposition, "UpgradeFailed",
       "Helm release fireworks-demo upgrade failed: context deadline exceeded: resource Deployment/demo-system/fireworks-demo-backend not ready",
       "Warning", kCdc},
  };
  std::vector<DemoNotification> out;
  uint64_t n = 0;
  for (const auto& s : specs) {
    ++n;
    auto at = now + std::chrono::milliseconds(1500 * int64_t(n - 1));
    out.push_back({"ADDED", event(s, at, 5000 + n, n).dump(), kDemoCompositionId});
  }
  out.insert(out.end() - 2, crashLoop(now + std::chrono::seconds(25), 1, 5100));
  return out;
}

DemoNotification DemoFeed::crashLoop(SysClock::time_point now, int count, uint64_t rv) {
  Spec s{&kBackendPod, "BackOff", "Back-off restarting failed container backend in pod fireworks-demo-backend-7f9c8d6b5-r2t8w_demo-system(6b7c8d9e-0f1a-4b2c-9d4e-5f6a7b8c9d71)",
         "Warning", "kubelet", kNode, "spec.containers{backend}", count};
  json e = event(s, now, rv, 99);
  // The same Event object counting up: first seen at the first BackOff.
  if (count > 1) e["firstTimestamp"] = rfc3339(now - std::chrono::seconds(20) * (count - 1));
  e["metadata"]["creationTimestamp"] = e["firstTimestamp"];
  return {count > 1 ? "MODIFIED" : "ADDED", e.dump(), kDemoCompositionId};
}

DemoFeed::DemoFeed(DemoOptions options, pipeline::Pipeline& pipeline)
    : options_(std::move(options)), pipeline_(pipeline), mapper_(options_.mapping) {}

DemoFeed::~DemoFeed() { shutdown(std::chrono::steady_clock::now()); }

void DemoFeed::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  logging::get("k8s.events")
      ->info("demo mode: playing a Krateo composition scenario (FireworksApp fireworks-demo in {}, composition id {})",
             kDemoNamespace, kDemoCompositionId);
  thread_ = std::thread([this] { run(); });
}

void DemoFeed::shutdown(std::chrono::steady_clock::time_point) {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool DemoFeed::waitUntil(std::chrono::steady_clock::time_point t) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_until(lock, t, [this] { return stopping_; });
}

void DemoFeed::emit(const DemoNotification& n) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(SysClock::now().time_since_epoch()).count();
  try {
    pipeline_.logs().add(mapper_.map(n.type, n.object, now, n.composition_id));
    ++emitted_;
  } catch (const std::exception& e) {
    logging::get("k8s.events")->warn("demo event not stored: {}", e.what());
  }
}

void DemoFeed::run() {
  const auto start = std::chrono::steady_clock::now();
  auto notes = scenario(SysClock::now());
  for (size_t i = 0; i < notes.size(); ++i) {
    auto at = start + options_.scenario_duration * int64_t(i) / int64_t(notes.size());
    if (!waitUntil(at)) return;
    emit(notes[i]);
  }
  int count = 1;
  uint64_t rv = 5100;
  while (waitUntil(std::chrono::steady_clock::now() + options_.crashloop_interval)) {
    emit(crashLoop(SysClock::now(), ++count, ++rv));
  }
}

}  // namespace kobs::collect::demo
