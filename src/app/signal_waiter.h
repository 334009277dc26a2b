// Waits for SIGTERM/SIGINT on its own thread and reports it through a flag.
//
// Threading: the constructor blocks both signals in the calling thread, so
// build it on the main thread before any other thread starts (threads inherit
// the mask and no handler runs in an arbitrary thread). Every method is
// thread-safe.
#pragma once

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace kobs::app {

class SignalWaiter {
 public:
  SignalWaiter();
  ~SignalWaiter();
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

  bool stopped();
  // True when a signal arrived within `d`.
  bool waitFor(std::chrono::milliseconds d);
  int signal();

 private:
  sigset_t set_{};
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int signal_ = 0;
};

}  // namespace kobs::app
