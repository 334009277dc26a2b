#include "collect/host_metrics/host_metrics_receiver.h"

#include "collect/scrape/metric_builder.h"
#include "common/logging.h"

namespace kobs::collect::host_metrics {

using config::KeySpec;
using config::KeyType;

std::vector<config::KeySpec> configKeys() {
  return {
      {"host_metrics.enabled", KeyType::kBool, "true", "Scrape this node's cpu, load, memory, paging, disk, filesystem, network and process metrics (the collector's hostmetrics receiver) into otel_metrics_sum and otel_metrics_gauge.", {"KOBS_HOST_METRICS_ENABLED"}},
      {"host_metrics.root", KeyType::kString, "/", "Where the host's / is mounted: /proc and /sys are read under it (/host in a DaemonSet pod with the host's / mounted read-only).", {"KOBS_HOST_METRICS_ROOT"}},
      {"host_metrics.interval", KeyType::kDuration, "60s", "Scrape interval.", {}},
      {"host_metrics.start_jitter", KeyType::kBool, "true", "Wait a random part of the interval before the first scrape, so agents started together do not scrape in step.", {}},
      {"host_metrics.scrapers", KeyType::kStringList, "cpu,load,memory,paging,disk,filesystem,network,processes", "Scrapers to run.", {}},
      {"host_metrics.cpu_utilization", KeyType::kBool, "false", "Also emit system.cpu.utilization (off by default, as in the collector).", {}},
      {"host_metrics.memory_utilization", KeyType::kBool, "false", "Also emit system.memory.utilization (off by default, as in the collector).", {}},
      {"host_metrics.include_virtual_filesystems", KeyType::kBool, "false", "Also report filesystems the kernel marks nodev (tmpfs, overlay, proc, cgroup, ...).", {}},
      {"host_metrics.host_name", KeyType::kString, "", "host.name resource attribute (empty: the host's hostname under host_metrics.root).", {}},
      {"host_metrics.node_name", KeyType::kString, "", "k8s.node.name resource attribute (downward API spec.nodeName; empty: not set).", {"KOBS_NODE_NAME", "NODE_NAME"}},
  };
}

HostMetricsOptions optionsFromConfig(const config::Values& v) {
  HostMetricsOptions o;
  o.scraper.root = v.str("host_metrics.root").empty() ? "/" : v.str("host_metrics.root");
  o.scraper.scrapers.clear();
  for (const auto& s : v.list("host_metrics.scrapers")) o.scraper.scrapers.insert(s);
  o.scraper.cpu_utilization = v.boolean("host_metrics.cpu_utilization");
  o.scraper.memory_utilization = v.boolean("host_metrics.memory_utilization");
  o.scraper.include_virtual_filesystems = v.boolean("host_metrics.include_virtual_filesystems");
  o.scraper.host_name = v.str("host_metrics.host_name");
  o.scraper.node_name = v.str("host_metrics.node_name");
  o.interval = v.duration("host_metrics.interval");
  o.start_jitter = v.boolean("host_metrics.start_jitter");
  return o;
}

HostMetricsReceiver::HostMetricsReceiver(HostMetricsOptions options, pipeline::Pipeline& pipeline,
                                         metrics::Registry* registry)
    : options_(std::move(options)), pipeline_(pipeline), scraper_(options_.scraper) {
  if (registry) {
    metrics::Labels l{{"component", "host_metrics"}};
    points_ = &registry->counter("kobs_metrics_points_total", "Metric data points handed to the pipeline.", l);
    dropped_ = &registry->counter("kobs_metrics_points_dropped_total",
                                  "Metric data points dropped because the disk buffer refused them.", l);
    errors_ = &registry->counter("kobs_metrics_scraper_errors_total",
                                 "Parts of a scrape that failed (a file that could not be read or parsed).", l);
  }
  loop_ = std::make_unique<scrape::ScrapeLoop>(
      scrape::ScrapeLoopOptions{"host_metrics", options_.interval, options_.start_jitter}, [this] { scrapeOnce(); },
      registry);
}

HostMetricsReceiver::~HostMetricsReceiver() { loop_->stop(); }

void HostMetricsReceiver::start() {
  logging::get("host_metrics")
      ->info("scraping {} every {} ms", options_.scraper.root.string(), options_.interval.count());
  loop_->start();
}

void HostMetricsReceiver::shutdown(std::chrono::steady_clock::time_point) { loop_->stop(); }

void HostMetricsReceiver::scrapeOnce() {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto points = scraper_.scrape(now);
  for (const auto& e : scraper_.errors()) {
    if (errors_) errors_->inc();
    logging::get("host_metrics")->warn("{}", e);
  }
  const auto r = scrape::emit(pipeline_, points);
  if (points_) points_->inc(r.accepted);
  if (dropped_) dropped_->inc(r.refused + r.no_table);
}

}  // namespace kobs::collect::host_metrics
