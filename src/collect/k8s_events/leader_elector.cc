#include "collect/k8s_events/leader_elector.h"

#include <unistd.h>

#include "common/logging.h"
#include "k8s/api_error.h"

namespace kobs::collect::k8s_events {

std::string defaultIdentity() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "kobs");
  return std::string(host) + "_" + std::to_string(::getpid());
}

LeaderElector::LeaderElector(k8s::ApiClient& api, LeaderElectionOptions options, WallClock clock)
    : leases_(api), options_(std::move(options)), clock_(std::move(clock)) {
  if (options_.identity.empty()) options_.identity = defaultIdentity();
}

bool LeaderElector::tick() {
  auto steady = std::chrono::steady_clock::now();
  if (steady < next_attempt_) return leading_;
  next_attempt_ = steady + options_.retry_period;
  bool ok = false;
  try {
    ok = tryAcquireOrRenew();
  } catch (const std::exception& e) {
    logging::get("k8s.events")->debug("lease {}/{}: {}", options_.lease_namespace, options_.lease_name, e.what());
  }
  auto log = logging::get("k8s.events");
  if (ok) {
    last_renew_ = steady;
    if (!leading_) log->info("became leader on lease {}/{} as {}", options_.lease_namespace, options_.lease_name,
                             options_.identity);
    leading_ = true;
  } else if (leading_ && steady - last_renew_ >= options_.renew_deadline) {
    log->warn("lost leadership of lease {}/{} (not renewed for {} ms)", options_.lease_namespace, options_.lease_name,
              options_.renew_deadline.count());
    leading_ = false;
  }
  return leading_;
}

bool LeaderElector::tryAcquireOrRenew() {
  const auto t = now();
  const int duration_s = int(std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count());
  auto current = leases_.get(options_.lease_namespace, options_.lease_name);
  if (!current) {
    k8s::Lease l;
    l.ns = options_.lease_namespace;
    l.name = options_.lease_name;
    l.holder_identity = options_.identity;
    l.lease_duration_seconds = duration_s;
    l.acquire_time = t;
    l.renew_time = t;
    try {
      leases_.create(l);
      return true;
    } catch (const k8s::ApiError& e) {
      if (e.isConflict()) return false;  // another replica created it first
      throw;
    }
  }
  k8s::Lease l = *current;
  const bool mine = l.holder_identity == options_.identity;
  if (!mine && !l.holder_identity.empty() && l.renew_time) {
    auto held_for = std::chrono::seconds(l.lease_duration_seconds > 0 ? l.lease_duration_seconds : duration_s);
    if (*l.renew_time + held_for > t) return false;  // someone else holds a live lease
  }
  if (!mine) {
    l.holder_identity = options_.identity;
    l.acquire_time = t;
    ++l.lease_transitions;
  }
  l.lease_duration_seconds = duration_s;
  l.renew_time = t;
  try {
    leases_.update(l);
    return true;
  } catch (const k8s::ApiError& e) {
    if (e.isConflict()) return false;
    throw;
  }
}

void LeaderElector::release() {
  if (!leading_) return;
  leading_ = false;
  try {
    auto current = leases_.get(options_.lease_namespace, options_.lease_name);
    if (!current || current->holder_identity != options_.identity) return;
    k8s::Lease l = *current;
    l.holder_identity.clear();
    l.lease_duration_seconds = 1;
    l.renew_time = now();
    leases_.update(l);
  } catch (const std::exception& e) {
    logging::get("k8s.events")->debug("releasing lease: {}", e.what());
  }
}

}  // namespace kobs::collect::k8s_events
