#include "store/clickhouse/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace kobs::store {

RetryPolicy::RetryPolicy(RetryOptions options, Rng rng)
    : options_(options), rng_(std::move(rng)), engine_(std::random_device{}()) {
  options_.max_retries = std::max(0, options_.max_retries);
  options_.backoff_base = std::max(options_.backoff_base, std::chrono::milliseconds(0));
  options_.backoff_max = std::max(options_.backoff_max, options_.backoff_base);
}

bool RetryPolicy::isRetryable(const Exception& error) {
  return error.code() == ErrorCode::kStoreUnavailable || error.code() == ErrorCode::kStoreTimeout;
}

bool RetryPolicy::shouldRetry(const Exception& error, int retries_done) const {
  return retries_done < options_.max_retries && isRetryable(error);
}

std::chrono::milliseconds RetryPolicy::backoffCap(int retry) const {
  // Doubling in floating point cannot overflow; clamp before converting back.
  double cap = static_cast<double>(options_.backoff_base.count()) * std::pow(2.0, std::clamp(retry, 0, 62));
  cap = std::min(cap, static_cast<double>(options_.backoff_max.count()));
  return std::chrono::milliseconds(static_cast<int64_t>(cap));
}

std::chrono::milliseconds RetryPolicy::backoff(int retry) {
  double u;
  {
    std::lock_guard lock(rng_mutex_);
    u = rng_ ? rng_() : std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
  }
  u = std::clamp(u, 0.0, 1.0);
  auto cap = backoffCap(retry);
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(cap.count()) * u));
}

}  // namespace kobs::store
