// ScrapeLoop: runs one scrape function every `interval`, the way the
// collector's scraper controller does for hostmetrics, kubeletstats and
// k8s_cluster, shared by kobs's three metric components.
//
//   - The first scrape waits a random start jitter in [0, interval) (off in
//     tests), so many agents started together do not scrape in step.
//   - Ticks are on a fixed grid (start + k * interval). A scrape that runs
//     past one or more ticks is counted in `overruns` per tick missed, and the
//     next scrape runs at the next tick still ahead: scrapes never stack.
//   - A scrape that throws is logged and counted in `failures`; the loop
//     goes on.
//
// Counters on /metrics (when a registry is given), labelled component=<name>:
//   kobs_metrics_scrapes_total, kobs_metrics_scrape_failures_total,
//   kobs_metrics_scrape_overruns_total, kobs_metrics_scrape_seconds (last).
//
// Threading: start() spawns one thread that runs every scrape; stop() is
// idempotent, safe before start(), and joins it (a running scrape finishes).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/metrics.h"

namespace kobs::collect::scrape {

struct ScrapeLoopOptions {
  std::string component;  // label and log name, e.g. "host_metrics"
  std::chrono::milliseconds interval{60000};
  bool start_jitter = true;
};

class ScrapeLoop {
 public:
  ScrapeLoop(ScrapeLoopOptions options, std::function<void()> scrape, metrics::Registry* registry = nullptr);
  ~ScrapeLoop();
  ScrapeLoop(const ScrapeLoop&) = delete;
  ScrapeLoop& operator=(const ScrapeLoop&) = delete;

  void start();
  void stop();

  uint64_t scrapes() const { return scrapes_.load(); }
  uint64_t failures() const { return failures_.load(); }
  uint64_t overruns() const { return overruns_.load(); }
  // The wait before the first scrape: drawn at construction, 0 without start_jitter.
  std::chrono::milliseconds startDelay() const { return start_delay_; }

 private:
  void run();
  bool waitUntil(std::chrono::steady_clock::time_point t);

  ScrapeLoopOptions options_;
  std::function<void()> scrape_;
  std::chrono::milliseconds start_delay_{0};
  std::atomic<uint64_t> scrapes_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> overruns_{0};
  metrics::Counter* scrapes_counter_ = nullptr;
  metrics::Counter* failures_counter_ = nullptr;
  metrics::Counter* overruns_counter_ = nullptr;
  metrics::Gauge* seconds_gauge_ = nullptr;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace kobs::collect::scrape
