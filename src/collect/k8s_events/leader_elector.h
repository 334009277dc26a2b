// LeaderElector: client-go's Lease-based leader election, driven by the
// caller's loop (tick()), so two kobs replicas can run with one watching.
//
// Every retry_period a candidate reads the Lease: it takes it when nobody
// holds it or the holder's renewTime is older than lease_duration; the
// holder renews it. Updates carry the resourceVersion read, so when two race
// the API server lets one win (409 for the other). A leader that could not
// renew for renew_deadline steps down before its lease can expire for others
// (renew_deadline < lease_duration), so two leaders never overlap while the
// clocks agree within their difference.
//
// Threading: not thread-safe; one thread (the receiver's control thread)
// calls tick()/release().
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "k8s/lease.h"

namespace kobs::collect::k8s_events {

struct LeaderElectionOptions {
  bool enabled = false;
  std::string lease_name = "kobs-k8s-events";
  std::string lease_namespace = "default";
  std::string identity;  // default: hostname_pid
  std::chrono::milliseconds lease_duration = std::chrono::seconds(15);
  std::chrono::milliseconds renew_deadline = std::chrono::seconds(10);
  std::chrono::milliseconds retry_period = std::chrono::seconds(2);
};

// hostname + "_" + pid.
std::string defaultIdentity();

class LeaderElector {
 public:
  using WallClock = std::function<std::chrono::system_clock::time_point()>;
  LeaderElector(k8s::ApiClient& api, LeaderElectionOptions options, WallClock clock = {});

  // Tries to acquire or renew when due; returns whether this replica leads.
  bool tick();
  bool leading() const { return leading_; }
  // When this replica last renewed (or took) the lease; meaningful while leading().
  std::chrono::steady_clock::time_point renewedAt() const { return last_renew_; }
  const LeaderElectionOptions& options() const { return options_; }
  // Gives the lease up (renewTime in the past) so another replica takes over at once.
  void release();
  const std::string& identity() const { return options_.identity; }

 private:
  bool tryAcquireOrRenew();
  std::chrono::system_clock::time_point now() const { return clock_ ? clock_() : std::chrono::system_clock::now(); }

  k8s::LeaseClient leases_;
  LeaderElectionOptions options_;
  WallClock clock_;
  bool leading_ = false;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::steady_clock::time_point last_renew_{};
};

}  // namespace kobs::collect::k8s_events
