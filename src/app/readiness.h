// What /readyz reports for the process: the store answered, the schema is
// applied, and every part of this role has started.
//
// Threading: the main thread moves it through its states; check() runs on
// the HTTP listener's threads. All methods are thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "http/health_routes.h"
#include "store/store.h"

namespace kobs::app {

class Readiness {
 public:
  // While the store is being attached: why it is not ready yet.
  void notReady(std::string reason);
  // The store answered and the schema is applied; `store` outlives this.
  void storeReady(store::IStore& store);
  // Every receiver and listener of the role has started.
  void started();

  http::Readiness check();

 private:
  std::atomic<store::IStore*> store_{nullptr};
  std::atomic<bool> started_{false};
  std::mutex mutex_;
  std::string reason_ = "starting";
};

}  // namespace kobs::app
