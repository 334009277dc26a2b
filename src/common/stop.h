// A stop request shared by the part that decides to stop (the signal handler,
// a shutdown deadline) and the blocking waits that must honour it: store
// attach and its retries, backoff sleeps, schema apply, in-flight HTTP calls.
//
//   StopSource src;                       // owned by whoever decides
//   HttpStoreOptions o; o.stop = src.token();
//   ...
//   src.requestStop();                    // stop now
//   src.requestStopAt(deadline);          // or: stop once `deadline` passes
//
//   // in a retry loop:
//   if (!token.sleepFor(backoff)) throw Exception(ErrorCode::kShuttingDown, "...");
//
// A default-constructed StopToken never stops, so an option of this type
// costs nothing to callers that do not care. Stopping is final: once the stop
// time has passed it stays stopped; a later request can only bring the stop
// time earlier.
//
// Threading: all methods of both types are thread-safe; tokens are cheap to
// copy and share the source's state.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

namespace kobs {

class StopToken {
 public:
  using Clock = std::chrono::steady_clock;

  StopToken() = default;  // never stops

  // False for a default-constructed token (it never stops): callers can skip
  // setting up what only a stop needs.
  bool canStop() const { return state_ != nullptr; }
  // True once a stop was requested and its time has come.
  bool stopRequested() const;
  // When the stop takes effect; nullopt while none is requested.
  std::optional<Clock::time_point> stopTime() const;
  // Time left before the stop (zero once stopped); `cap` when none is requested
  // or the stop is further away, so callers can bound a timeout with it.
  Clock::duration remaining(Clock::duration cap) const;
  // Sleeps `d`, waking early on a stop. True when the whole time passed
  // without a stop.
  bool sleepFor(Clock::duration d) const;
  bool sleepUntil(Clock::time_point t) const;

 private:
  friend class StopSource;
  struct State {
    mutable std::mutex mutex;
    std::condition_variable cv;
    std::optional<Clock::time_point> stop_at;
  };
  explicit StopToken(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

class StopSource {
 public:
  using Clock = StopToken::Clock;

  StopSource();
  StopSource(const StopSource&) = delete;
  StopSource& operator=(const StopSource&) = delete;

  void requestStop() { requestStopAt(Clock::now()); }
  // Stops at `t` unless an earlier stop is already set.
  void requestStopAt(Clock::time_point t);
  bool stopRequested() const { return token().stopRequested(); }
  StopToken token() const { return StopToken(state_); }

 private:
  std::shared_ptr<StopToken::State> state_;
};

}  // namespace kobs
