#include "app/signal_waiter.h"

#include <pthread.h>

namespace kobs::app {

SignalWaiter::SignalWaiter() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);  // inherited by threads started after this
  thread_ = std::thread([this] {
    int sig = 0;
    sigwait(&set_, &sig);
    {
      std::lock_guard lock(mutex_);
      signal_ = sig;
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

}  // namespace kobs::app
