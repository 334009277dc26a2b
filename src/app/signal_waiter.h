// Waits for SIGTERM/SIGINT (and SIGHUP: reload) on its own thread and reports it through a flag;
// `on_signal` runs first, on that thread, with the time the signal arrived
// (it must be quick and thread-safe: it typically sets a StopSource).
//
// Threading: the constructor blocks both signals in the calling thread, so
// build it on the main thread before any other thread starts (threads inherit
// the mask and no handler runs in an arbitrary thread). Every method is
// thread-safe.
#pragma once

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace kobs::app {

class SignalWaiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit SignalWaiter(std::function<void(Clock::time_point)> on_signal = {});
  ~SignalWaiter();
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

  // SIGHUP runs `on_reload` on the signal thread (quick and thread-safe, like
  // on_signal); without one SIGHUP is ignored rather than ending the process.
  void setReloadHandler(std::function<void()> on_reload);

  bool stopped();
  // True when a signal arrived within `d`.
  bool waitFor(std::chrono::milliseconds d);
  int signal();
  // When the signal arrived (valid once stopped()).
  Clock::time_point signalTime();

 private:
  sigset_t set_{};
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int signal_ = 0;
  Clock::time_point signal_time_{};
  std::function<void(Clock::time_point)> on_signal_;
  std::function<void()> on_reload_;
};

}  // namespace kobs::app
