#include "app/signal_waiter.h"

#include <pthread.h>

namespace kobs::app {

SignalWaiter::SignalWaiter(std::function<void(Clock::time_point)> on_signal) : on_signal_(std::move(on_signal)) {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);  // inherited by threads started after this
  thread_ = std::thread([this] {
    int sig = 0;
    // SIGHUP asks for a reload (alert rules) and does not stop the process.
    while (sigwait(&set_, &sig) != 0 || sig == SIGHUP) {
      if (sig != SIGHUP) continue;
      std::function<void()> reload;
      {
        std::lock_guard lock(mutex_);
        reload = on_reload_;
      }
      if (reload) reload();
    }
    const auto now = Clock::now();
    if (on_signal_) on_signal_(now);
    {
      std::lock_guard lock(mutex_);
      signal_ = sig;
      signal_time_ = now;
    }
    cv_.notify_all();
  });
}

SignalWaiter::~SignalWaiter() {
  if (thread_.joinable()) {
    if (!stopped()) pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }
}

void SignalWaiter::setReloadHandler(std::function<void()> on_reload) {
  std::lock_guard lock(mutex_);
  on_reload_ = std::move(on_reload);
}

bool SignalWaiter::stopped() {
  std::lock_guard lock(mutex_);
  return signal_ != 0;
}

bool SignalWaiter::waitFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, d, [&] { return signal_ != 0; });
}

int SignalWaiter::signal() {
  std::lock_guard lock(mutex_);
  return signal_;
}

SignalWaiter::Clock::time_point SignalWaiter::signalTime() {
  std::lock_guard lock(mutex_);
  return signal_time_;
}

}  // namespace kobs::app
