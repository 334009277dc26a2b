// What /readyz reports for the process: the store answered, the schema is
// applied, every part of this role has started, and the store still answers.
//
// The store is asked in the background (ping() every `interval` on the
// readiness thread), never on the request's path: check() only reads the
// last answer. An answer older than `max_age` counts as not ready, so a
// ClickHouse that accepts connections and never answers turns /readyz to 503
// within max_age while the listener stays responsive.
//
// Threading: the main thread moves it through its states; check() runs on
// the HTTP listener's I/O threads and only takes a short internal lock; one
// background thread (from storeReady() until stop()) calls the store's ping().
// All methods are thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/stop.h"
#include "http/health_routes.h"
#include "store/store.h"

namespace kobs::app {

struct ReadinessOptions {
  std::chrono::milliseconds interval{1000};  // between store pings
  std::chrono::milliseconds max_age{5000};   // an older answer is not ready
};

class Readiness {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Readiness(ReadinessOptions options = {});
  ~Readiness();
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // While the store is being attached: why it is not ready yet.
  void notReady(std::string reason);
  // The store answered and the schema is applied: starts the background
  // check. `store` must outlive this object (or stop()).
  void storeReady(store::IStore& store);
  // Every receiver and listener of the role has started.
  void started();
  // Ends the background check; waits for an in-flight ping (cut short by the
  // store's own stop token at shutdown). Idempotent.
  void stop();

  // Never blocks on the store.
  http::Readiness check() const;

 private:
  void refresh(store::IStore& store);

  const ReadinessOptions options_;
  mutable std::mutex mutex_;
  std::string reason_ = "starting";  // while no store is attached
  bool attached_ = false;
  bool started_ = false;
  Clock::time_point answered_at_{};      // the last completed ping (or attach)
  std::optional<std::string> failure_;   // the last ping's error, if it failed
  StopSource stop_;
  std::thread thread_;
};

}  // namespace kobs::app
