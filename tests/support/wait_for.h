// Polls a condition until it holds or a deadline passes: tests wait on
// conditions, never on a fixed sleep or a timing bound.
//
// Threading: runs `cond` on the calling thread.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace kobs::testing {

inline bool waitFor(const std::function<bool()>& cond,
                    std::chrono::milliseconds deadline = std::chrono::seconds(120),
                    std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace kobs::testing
