#include "collect/scrape/scrape_loop.h"

#include <random>

#include "common/logging.h"

namespace kobs::collect::scrape {

ScrapeLoop::ScrapeLoop(ScrapeLoopOptions options, std::function<void()> scrape, metrics::Registry* registry)
    : options_(std::move(options)), scrape_(std::move(scrape)) {
  if (options_.interval.count() <= 0) options_.interval = std::chrono::milliseconds(1000);
  if (options_.start_jitter) {
    std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<int64_t> d(0, options_.interval.count() - 1);
    start_delay_ = std::chrono::milliseconds(d(rng));
  }
  if (registry) {
    metrics::Labels l{{"component", options_.component}};
    scrapes_counter_ = &registry->counter("kobs_metrics_scrapes_total", "Metric scrapes run, by component.", l);
    failures_counter_ = &registry->counter("kobs_metrics_scrape_failures_total",
                                           "Metric scrapes that failed as a whole, by component.", l);
    overruns_counter_ = &registry->counter("kobs_metrics_scrape_overruns_total",
                                           "Scrape ticks skipped because the previous scrape was still running.", l);
    seconds_gauge_ = &registry->gauge("kobs_metrics_scrape_seconds", "Duration of the last scrape.", l);
  }
}

ScrapeLoop::~ScrapeLoop() { stop(); }

void ScrapeLoop::start() {
  std::lock_guard lock(mutex_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void ScrapeLoop::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool ScrapeLoop::waitUntil(std::chrono::steady_clock::time_point t) {
  std::unique_lock lock(mutex_);
  cv_.wait_until(lock, t, [&] { return stopping_; });
  return !stopping_;
}

void ScrapeLoop::run() {
  using Clock = std::chrono::steady_clock;
  auto log = logging::get(options_.component);
  auto next = Clock::now() + start_delay_;
  while (waitUntil(next)) {
    const auto began = Clock::now();
    try {
      scrape_();
    } catch (const std::exception& e) {
      failures_.fetch_add(1);
      if (failures_counter_) failures_counter_->inc();
      log->warn("scrape failed: {}", e.what());
    }
    const auto ended = Clock::now();
    scrapes_.fetch_add(1);
    if (scrapes_counter_) scrapes_counter_->inc();
    if (seconds_gauge_) seconds_gauge_->set(std::chrono::duration<double>(ended - began).count());
    next += options_.interval;
    if (next <= ended) {
      // Skip the ticks the scrape ran over instead of running them back to back.
      const auto missed = (ended - next) / options_.interval + 1;
      next += missed * options_.interval;
      overruns_.fetch_add(uint64_t(missed));
      if (overruns_counter_) overruns_counter_->inc(uint64_t(missed));
      log->warn("scrape took {} ms, longer than the {} ms interval: {} tick(s) skipped",
                std::chrono::duration_cast<std::chrono::milliseconds>(ended - began).count(),
                options_.interval.count(), missed);
    }
  }
}

}  // namespace kobs::collect::scrape
