// DemoFeed: `kobs all --demo` for people without a cluster. It plays a
// built-in, realistic scenario through the same mapping (EventMapper) and
// the same pipeline as the real receiver, so /events, /notifications and
// the SQL views show something real:
//   a Krateo composition (composition.krateo.io/v1-2-0 FireworksApp
//   "fireworks-demo" in namespace demo-system) deploying its Deployment,
//   ReplicaSet, Service and Pods (scheduled, pulled, created, started), Helm
//   release events from the composition-dynamic-controller, one pod crash-
//   looping (BackOff Warning, count rising through MODIFIED notifications)
//   and a Helm release failing (Warning).
// The scenario is spread over `scenario_duration` (30 s) after start; then a
// crash-loop count update comes every `crashloop_interval` (20 s). Composition
// ids are precomputed (every object of the scenario belongs to the one
// composition), standing in for the resolver: no API server is needed.
//
// Threading: one thread, started by start(), joined by shutdown().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collect/k8s_events/event_mapping.h"
#include "common/component.h"
#include "pipeline/pipeline.h"

namespace kobs::collect::demo {

struct DemoOptions {
  std::chrono::milliseconds scenario_duration = std::chrono::seconds(30);
  std::chrono::milliseconds crashloop_interval = std::chrono::seconds(20);
  k8s_events::MappingOptions mapping;
};

// The demo composition's id (also the FireworksApp's uid).
inline constexpr const char* kDemoCompositionId = "5f0c3c1e-8a4b-4d52-9a3e-2b7f6c1d9e01";
inline constexpr const char* kDemoNamespace = "demo-system";

// One notification of the scenario: the watch type and the Event object.
struct DemoNotification {
  std::string type;    // ADDED / MODIFIED
  std::string object;  // the Event JSON
  std::string composition_id;
};

class DemoFeed final : public Component {
 public:
  DemoFeed(DemoOptions options, pipeline::Pipeline& pipeline);
  ~DemoFeed() override;

  std::string_view name() const override { return "k8s_events_demo"; }
  void start() override;
  void shutdown(std::chrono::steady_clock::time_point deadline) override;

  uint64_t emitted() const { return emitted_.load(); }

  // The scenario's opening notifications, stamped around `now` (for tests).
  static std::vector<DemoNotification> scenario(std::chrono::system_clock::time_point now);
  // The crash-loop BackOff event at count `count` (MODIFIED when count > 1).
  static DemoNotification crashLoop(std::chrono::system_clock::time_point now, int count, uint64_t rv);

 private:
  void run();
  bool waitUntil(std::chrono::steady_clock::time_point t);
  void emit(const DemoNotification& n);

  DemoOptions options_;
  pipeline::Pipeline& pipeline_;
  k8s_events::EventMapper mapper_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<uint64_t> emitted_{0};
};

}  // namespace kobs::collect::demo
