// Progress of a long operation (a schema backfill, a disk-buffer replay, the
// presenter head's first load) in the log: percent done and an ETA, at most
// once every `every`, plus a closing line. An operator watching a slow start
// sees it is moving and for how long it will take.
//
// Threading: not thread-safe; one owner calls add()/set()/finish().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace kobs {

class ProgressLog {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds every{std::chrono::seconds(5)};
    std::function<Clock::time_point()> clock;     // default: steady_clock::now
    std::function<void(const std::string&)> sink;  // default: logging::get(component)->info
  };

  // `what` names the operation ("replaying the disk buffer"), `unit` what is
  // counted ("batches"); `component` is the logger's name.
  ProgressLog(std::string component, std::string what, uint64_t total, std::string unit, Options options);
  ProgressLog(std::string component, std::string what, uint64_t total, std::string unit)
      : ProgressLog(std::move(component), std::move(what), total, std::move(unit), Options{}) {}

  void add(uint64_t n = 1) { set(done_ + n); }
  void set(uint64_t done);
  // Logs the closing line once (also when done < total: "stopped at").
  void finish();

  uint64_t done() const { return done_; }
  // The line that would be logged now (for tests and the closing line).
  std::string line() const;

 private:
  std::string component_, what_, unit_;
  uint64_t total_ = 0, done_ = 0;
  Options options_;
  Clock::time_point started_, last_logged_;
  bool finished_ = false;
};

}  // namespace kobs
