// HostScraper: one scrape of the node's /proc and /sys, as the OpenTelemetry
// Collector's hostmetrics receiver emits it on Linux (names, units,
// attributes, monotonicity and temporality from its scrapers' metadata):
//
//   cpu         system.cpu.time{cpu,state} (s, cumulative), system.cpu.utilization (optional)
//   load        system.cpu.load_average.1m / 5m / 15m
//   memory      system.memory.usage{state}, system.memory.utilization (optional)
//   paging      system.paging.usage{device,state}, .operations{direction,type}, .faults{type}
//   disk        system.disk.io / operations / io_time / operation_time / weighted_io_time /
//               pending_operations / merged, by device (and direction)
//   filesystem  system.filesystem.usage / inodes.usage {device,mode,mountpoint,type,state};
//               filesystems the kernel marks nodev (tmpfs, proc, overlay, ...) excluded by default
//   network     system.network.io / packets / errors / dropped {device,direction},
//               system.network.connections{protocol=tcp,state}
//   processes   system.processes.count{status}, system.processes.created
//
// Every path is read under `root` ("/host" in a pod with the host's / mounted
// there): <root>/proc/stat, loadavg, meminfo, swaps, vmstat, diskstats,
// filesystems, 1/mounts (else self/mounts), 1/net/dev and 1/net/tcp{,6} (else
// net/...: pid 1's files are the host's network namespace when the host's
// /proc is mounted), and statvfs(<root><mountpoint>). Start time of every
// point is the boot time (/proc/stat btime), as the collector sets it, so
// cumulative sums keep one start across scrapes and restarts of kobs.
//
// A scraper whose files cannot be read is skipped for that scrape and named
// in errors(); the others still report.
//
// Threading: not thread-safe; one scrape at a time (the ScrapeLoop thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "collect/scrape/metric_builder.h"
#include "pipeline/record.h"

namespace kobs::collect::host_metrics {

// statvfs's answer, in bytes and inodes.
struct FsStats {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;       // f_bfree * f_frsize (including reserved)
  uint64_t available_bytes = 0;  // f_bavail * f_frsize (for unprivileged users)
  uint64_t total_inodes = 0;
  uint64_t free_inodes = 0;
};
using StatFs = std::function<std::optional<FsStats>(const std::filesystem::path&)>;
std::optional<FsStats> statVfs(const std::filesystem::path& path);

inline const std::vector<std::string>& allScrapers() {
  static const std::vector<std::string> k{"cpu", "load", "memory", "paging", "disk", "filesystem", "network",
                                          "processes"};
  return k;
}

struct HostScraperOptions {
  std::filesystem::path root = "/";
  std::set<std::string> scrapers{allScrapers().begin(), allScrapers().end()};
  bool cpu_utilization = false;     // off by default, as in the collector
  bool memory_utilization = false;  // off by default, as in the collector
  bool include_virtual_filesystems = false;
  std::string host_name;  // empty: <root>/proc/sys/kernel/hostname, else gethostname()
  std::string node_name;  // k8s.node.name when set
  StatFs statfs;          // default statVfs; a test fixture supplies fixed answers
  long clock_ticks = 0;   // USER_HZ; 0: sysconf(_SC_CLK_TCK)
};

class HostScraper {
 public:
  explicit HostScraper(HostScraperOptions options);

  // The points of one scrape at `now_unix_nano`.
  std::vector<pipeline::MetricPoint> scrape(int64_t now_unix_nano);

  // "<scraper>: <why>" for each scraper that failed in the last scrape.
  const std::vector<std::string>& errors() const { return errors_; }
  const pipeline::Resource& resource() const { return *resource_; }

 private:
  std::filesystem::path path(std::string_view rel) const;
  std::string readFile(std::string_view rel) const;  // throws kIo
  std::string readFirst(std::initializer_list<std::string_view> rels) const;
  int64_t bootTimeNano();
  void scrapeCpu(scrape::MetricBuilder& b);
  void scrapeLoad(scrape::MetricBuilder& b);
  void scrapeMemory(scrape::MetricBuilder& b);
  void scrapePaging(scrape::MetricBuilder& b);
  void scrapeDisk(scrape::MetricBuilder& b);
  void scrapeFilesystem(scrape::MetricBuilder& b);
  void scrapeNetwork(scrape::MetricBuilder& b);
  void scrapeProcesses(scrape::MetricBuilder& b);

  HostScraperOptions options_;
  std::shared_ptr<const pipeline::Resource> resource_;
  std::map<std::string, std::shared_ptr<const pipeline::Scope>> scopes_;
  std::vector<std::string> errors_;
  int64_t boot_time_nano_ = 0;
  // Previous cpu times (ticks) per cpu and state, for utilization.
  std::map<std::string, std::vector<double>> prev_cpu_;
};

}  // namespace kobs::collect::host_metrics
