#include "app/readiness.h"

#include <fmt/format.h>

namespace kobs::app {

Readiness::Readiness(ReadinessOptions options) : options_(options) {}

Readiness::~Readiness() { stop(); }

void Readiness::notReady(std::string reason) {
  std::lock_guard lock(mutex_);
  reason_ = std::move(reason);
}

void Readiness::storeReady(store::IStore& store) {
  {
    std::lock_guard lock(mutex_);
    attached_ = true;
    answered_at_ = Clock::now();
    failure_.reset();
  }
  if (!thread_.joinable()) thread_ = std::thread([this, &store] { refresh(store); });
}

void Readiness::started() {
  std::lock_guard lock(mutex_);
  started_ = true;
}

void Readiness::stop() {
  stop_.requestStop();
  if (thread_.joinable()) thread_.join();
}

void Readiness::refresh(store::IStore& store) {
  const auto token = stop_.token();
  while (token.sleepFor(options_.interval)) {
    std::optional<std::string> failure;
    try {
      store.ping();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    std::lock_guard lock(mutex_);
    answered_at_ = Clock::now();
    failure_ = std::move(failure);
  }
}

http::Readiness Readiness::check() const {
  std::lock_guard lock(mutex_);
  if (!attached_) return {false, reason_};
  if (!started_) return {false, "starting receivers and listeners"};
  const auto age = Clock::now() - answered_at_;
  if (age > options_.max_age)
    return {false, fmt::format("store has not answered for {} ms",
                               std::chrono::duration_cast<std::chrono::milliseconds>(age).count())};
  if (failure_) return {false, "store unreachable: " + *failure_};
  return {true, ""};
}

}  // namespace kobs::app
