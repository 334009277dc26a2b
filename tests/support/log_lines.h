// A log sink that keeps every message logged through the loggers it is added
// to, for tests that check what a component logs (progress lines and the like).
//
// Threading: any thread may log; lines() may be called from any thread.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include <spdlog/sinks/base_sink.h>

namespace kobs::testing {

class LogLines final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard l(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

}  // namespace kobs::testing
