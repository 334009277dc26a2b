// RetryPolicy: when and how long to wait before trying a ClickHouse request again.
//
// Retryable are the failures that may pass unchanged: kStoreUnavailable and
// kStoreTimeout (network errors, timeouts, 5xx without a ClickHouse exception,
// a proxy's 503, ClickHouse's few transient codes; see clickhouse_error.h).
// SQL errors, auth failures and other 4xx never are. The wait is exponential
// backoff with full jitter (AWS architecture blog): uniform in
// [0, min(max, base * 2^retry)], so many clients that failed together do not
// come back together.
//
// Threading: shouldRetry() is pure; backoff() draws from the RNG under a mutex,
// so one policy may be shared by all callers of a store.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <random>

#include "common/error.h"

namespace kobs::store {

struct RetryOptions {
  int max_retries = 5;                              // retries after the first attempt
  std::chrono::milliseconds backoff_base{100};      // cap of the first wait
  std::chrono::milliseconds backoff_max{5000};      // no wait is longer
};

class RetryPolicy {
 public:
  // Returns a uniform double in [0, 1). Injected by tests for determinism.
  using Rng = std::function<double()>;

  explicit RetryPolicy(RetryOptions options, Rng rng = {});

  const RetryOptions& options() const { return options_; }

  // True when an attempt that failed with `error` should be tried again;
  // `retries_done` counts the retries already made (0 after the first attempt).
  bool shouldRetry(const Exception& error, int retries_done) const;

  // True for the error codes that may succeed when sent again unchanged.
  static bool isRetryable(const Exception& error);

  // The wait before retry number `retry` (0-based): full jitter over the
  // exponential cap min(backoff_max, backoff_base * 2^retry).
  std::chrono::milliseconds backoff(int retry);

  // The cap backoff() draws under, without jitter.
  std::chrono::milliseconds backoffCap(int retry) const;

 private:
  RetryOptions options_;
  std::mutex rng_mutex_;
  Rng rng_;
  std::mt19937_64 engine_;
};

}  // namespace kobs::store
