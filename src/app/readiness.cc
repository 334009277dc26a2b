#include "app/readiness.h"

namespace kobs::app {

void Readiness::notReady(std::string reason) {
  std::lock_guard lock(mutex_);
  reason_ = std::move(reason);
}

void Readiness::storeReady(store::IStore& store) { store_ = &store; }

void Readiness::started() { started_ = true; }

http::Readiness Readiness::check() {
  auto* store = store_.load();
  if (!store) {
    std::lock_guard lock(mutex_);
    return {false, reason_};
  }
  if (!started_) return {false, "starting receivers and listeners"};
  try {
    store->ping();
    return {true, ""};
  } catch (const std::exception& e) {
    return {false, std::string("store unreachable: ") + e.what()};
  }
}

}  // namespace kobs::app
