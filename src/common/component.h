// The lifecycle every long-running part of kobs follows (the OpenTelemetry
// Collector's contract): start() returns quickly, doing its work on its own
// threads; shutdown(deadline) stops intake, flushes what it holds, honours
// the deadline, and is safe to call before start() and more than once.
// The process starts the store side first and stops the receivers first.
#pragma once

#include <chrono>
#include <string_view>

namespace kobs {

class Component {
 public:
  virtual ~Component() = default;
  virtual std::string_view name() const = 0;
  virtual void start() = 0;
  virtual void shutdown(std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace kobs
