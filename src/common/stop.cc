#include "common/stop.h"

#include <algorithm>
#include <thread>

namespace kobs {

bool StopToken::stopRequested() const {
  if (!state_) return false;
  std::lock_guard lock(state_->mutex);
  return state_->stop_at && Clock::now() >= *state_->stop_at;
}

std::optional<StopToken::Clock::time_point> StopToken::stopTime() const {
  if (!state_) return std::nullopt;
  std::lock_guard lock(state_->mutex);
  return state_->stop_at;
}

StopToken::Clock::duration StopToken::remaining(Clock::duration cap) const {
  auto at = stopTime();
  if (!at) return cap;
  return std::clamp(*at - Clock::now(), Clock::duration::zero(), cap);
}

bool StopToken::sleepFor(Clock::duration d) const { return sleepUntil(Clock::now() + d); }

bool StopToken::sleepUntil(Clock::time_point t) const {
  if (!state_) {
    std::this_thread::sleep_until(t);
    return true;
  }
  std::unique_lock lock(state_->mutex);
  for (;;) {
    const auto now = Clock::now();
    if (state_->stop_at && now >= *state_->stop_at) return false;
    if (now >= t) return true;
    // Wake at the earlier of the end of the sleep and the stop time; a new
    // request notifies, so an earlier stop set meanwhile is seen at once.
    auto until = state_->stop_at ? std::min(t, *state_->stop_at) : t;
    state_->cv.wait_until(lock, until);
  }
}

StopSource::StopSource() : state_(std::make_shared<StopToken::State>()) {}

void StopSource::requestStopAt(Clock::time_point t) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stop_at && *state_->stop_at <= t) return;
    state_->stop_at = t;
  }
  state_->cv.notify_all();
}

}  // namespace kobs
