// HostMetricsReceiver: the node's cpu, load, memory, paging, disk,
// filesystem, network and process metrics (HostScraper) every interval into
// otel_metrics_gauge / otel_metrics_sum, as the collector's hostmetrics
// receiver on the node agent did.
//
// A scrape refused by a full disk buffer is dropped and counted
// (kobs_metrics_points_dropped_total): metrics are samples, and the next
// scrape carries the cumulative totals anyway.
//
// Threading: one ScrapeLoop thread runs the scraper and adds to the pipeline;
// start()/shutdown() on the main thread.
#pragma once

#include <chrono>
#include <memory>

#include "collect/host_metrics/host_scraper.h"
#include "collect/scrape/scrape_loop.h"
#include "common/component.h"
#include "common/config_table.h"
#include "common/metrics.h"
#include "pipeline/pipeline.h"

namespace kobs::collect::host_metrics {

struct HostMetricsOptions {
  HostScraperOptions scraper;
  std::chrono::milliseconds interval{60000};
  bool start_jitter = true;
};

std::vector<config::KeySpec> configKeys();
HostMetricsOptions optionsFromConfig(const config::Values& values);

class HostMetricsReceiver : public Component {
 public:
  HostMetricsReceiver(HostMetricsOptions options, pipeline::Pipeline& pipeline, metrics::Registry* registry);
  ~HostMetricsReceiver() override;

  std::string_view name() const override { return "host_metrics"; }
  void start() override;
  void shutdown(std::chrono::steady_clock::time_point deadline) override;

  const scrape::ScrapeLoop& loop() const { return *loop_; }

 private:
  void scrapeOnce();

  HostMetricsOptions options_;
  pipeline::Pipeline& pipeline_;
  HostScraper scraper_;
  metrics::Counter* points_ = nullptr;
  metrics::Counter* dropped_ = nullptr;
  metrics::Counter* errors_ = nullptr;
  std::unique_ptr<scrape::ScrapeLoop> loop_;
};

}  // namespace kobs::collect::host_metrics
