// AlertLease: the alert evaluator's Lease (collect/k8s_events' LeaderElector)
// renewed on its own thread, so an evaluation cycle or a slow POST never
// delays a renewal, and asked from any thread through holds().
//
// holds() is true only while the last renewal is younger than renew_deadline:
// the elector steps down then, before the lease (lease_duration) can expire
// for another replica, so while holds() is true no other replica has taken
// the lease (clocks running at the same rate). The evaluator checks it before
// it commits a cycle and the dispatcher before every POST, so a replica that
// lost the lease mid-cycle posts nothing.
//
// Threading: one internal thread owns the elector (tick, release on stop);
// holds() reads an atomic and may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "collect/k8s_events/leader_elector.h"
#include "k8s/api_client.h"

namespace kobs::app {

class AlertLease {
 public:
  // `api` is called on the lease thread (it may connect lazily and throw).
  AlertLease(std::function<k8s::ApiClient&()> api, collect::k8s_events::LeaderElectionOptions options);
  ~AlertLease();  // stops the thread and releases the lease (another replica takes over at once)
  AlertLease(const AlertLease&) = delete;
  AlertLease& operator=(const AlertLease&) = delete;

  bool holds() const;
  // Stops renewing without releasing, as a killed process would (tests).
  void abandon();

 private:
  void run();

  std::function<k8s::ApiClient&()> api_;
  collect::k8s_events::LeaderElectionOptions options_;
  std::unique_ptr<collect::k8s_events::LeaderElector> elector_;  // lease thread only
  std::atomic<int64_t> held_until_ns_{0};  // steady clock; 0: not leading
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool release_ = true;
  std::thread thread_;
};

}  // namespace kobs::app
