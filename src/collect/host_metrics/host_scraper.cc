#include "collect/host_metrics/host_scraper.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include <fmt/format.h>

#include "common/error.h"

namespace kobs::collect::host_metrics {

namespace {

using pipeline::Attributes;
using pipeline::MetricType;
using scrape::MetricDef;

constexpr auto kGauge = MetricType::kGauge;
constexpr auto kSum = MetricType::kSum;

// The hostmetrics receiver's metadata (names, types, units, monotonicity).
constexpr MetricDef kCpuTime{"system.cpu.time", kSum, "s", true, "Seconds each logical CPU spent in each mode."};
constexpr MetricDef kCpuUtil{"system.cpu.utilization", kGauge, "1", false,
                             "Share of the interval each logical CPU spent in each mode, in [0,1]."};
constexpr MetricDef kLoad1{"system.cpu.load_average.1m", kGauge, "{thread}", false, "Load average over 1 minute."};
constexpr MetricDef kLoad5{"system.cpu.load_average.5m", kGauge, "{thread}", false, "Load average over 5 minutes."};
constexpr MetricDef kLoad15{"system.cpu.load_average.15m", kGauge, "{thread}", false, "Load average over 15 minutes."};
constexpr MetricDef kMemUsage{"system.memory.usage", kSum, "By", false, "Bytes of memory by state."};
constexpr MetricDef kMemUtil{"system.memory.utilization", kGauge, "1", false, "Share of memory by state."};
constexpr MetricDef kPagingUsage{"system.paging.usage", kSum, "By", false, "Swap bytes by device and state."};
constexpr MetricDef kPagingOps{"system.paging.operations", kSum, "{operations}", true, "Paging operations."};
constexpr MetricDef kPagingFaults{"system.paging.faults", kSum, "{faults}", true, "Page faults."};
constexpr MetricDef kDiskIo{"system.disk.io", kSum, "By", true, "Bytes read from and written to each disk."};
constexpr MetricDef kDiskOps{"system.disk.operations", kSum, "{operations}", true, "Completed disk reads and writes."};
constexpr MetricDef kDiskIoTime{"system.disk.io_time", kSum, "s", true, "Time each disk had I/O in flight."};
constexpr MetricDef kDiskOpTime{"system.disk.operation_time", kSum, "s", true, "Time spent in reads and writes."};
constexpr MetricDef kDiskWeighted{"system.disk.weighted_io_time", kSum, "s", true,
                                  "I/O time weighted by the number of operations in flight."};
constexpr MetricDef kDiskPending{"system.disk.pending_operations", kSum, "{operations}", false,
                                 "Disk operations in flight."};
constexpr MetricDef kDiskMerged{"system.disk.merged", kSum, "{operations}", true,
                                "Adjacent reads and writes merged into one."};
constexpr MetricDef kFsUsage{"system.filesystem.usage", kSum, "By", false, "Filesystem bytes by state."};
constexpr MetricDef kFsInodes{"system.filesystem.inodes.usage", kSum, "{inodes}", false, "Filesystem inodes by state."};
constexpr MetricDef kNetPackets{"system.network.packets", kSum, "{packets}", true, "Packets sent and received."};
constexpr MetricDef kNetDropped{"system.network.dropped", kSum, "{packets}", true, "Packets dropped."};
constexpr MetricDef kNetErrors{"system.network.errors", kSum, "{errors}", true, "Receive and transmit errors."};
constexpr MetricDef kNetIo{"system.network.io", kSum, "By", true, "Bytes sent and received."};
constexpr MetricDef kNetConns{"system.network.connections", kSum, "{connections}", false,
                              "TCP connections by state."};
constexpr MetricDef kProcCount{"system.processes.count", kSum, "{processes}", false, "Processes by status."};
constexpr MetricDef kProcCreated{"system.processes.created", kSum, "{processes}", true, "Processes created since boot."};

constexpr std::string_view kScopePrefix =
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/";

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

template <typename F>
void forEachLine(std::string_view text, F&& f) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    f(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
}

uint64_t toU64(std::string_view s) {
  uint64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc()) throw Exception(ErrorCode::kBadInput, "not a number: '{}'", s);
  return v;
}

double toDouble(std::string_view s) {
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc()) throw Exception(ErrorCode::kBadInput, "not a number: '{}'", s);
  return v;
}

// /proc/mounts escapes space, tab, newline and backslash as \ooo.
std::string unescapeMount(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(char(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::shared_ptr<const pipeline::Resource> makeResource(const HostScraperOptions& o, const std::string& host) {
  auto r = std::make_shared<pipeline::Resource>();
  r->attributes.emplace_back("host.name", host);
  r->attributes.emplace_back("os.type", "linux");
  if (!o.node_name.empty()) r->attributes.emplace_back("k8s.node.name", o.node_name);
  return r;
}

}  // namespace

std::optional<FsStats> statVfs(const std::filesystem::path& path) {
  struct statvfs s {};
  if (::statvfs(path.c_str(), &s) != 0) return std::nullopt;
  FsStats f;
  const uint64_t frsize = s.f_frsize ? s.f_frsize : s.f_bsize;
  f.total_bytes = uint64_t(s.f_blocks) * frsize;
  f.free_bytes = uint64_t(s.f_bfree) * frsize;
  f.available_bytes = uint64_t(s.f_bavail) * frsize;
  f.total_inodes = s.f_files;
  f.free_inodes = s.f_ffree;
  return f;
}

HostScraper::HostScraper(HostScraperOptions options) : options_(std::move(options)) {
  if (!options_.statfs) options_.statfs = statVfs;
  if (options_.clock_ticks <= 0) options_.clock_ticks = ::sysconf(_SC_CLK_TCK);
  if (options_.clock_ticks <= 0) options_.clock_ticks = 100;
  for (const auto& s : options_.scrapers) {
    bool known = false;
    for (const auto& k : allScrapers()) known = known || k == s;
    if (!known) throw Exception(ErrorCode::kBadConfig, "host_metrics: unknown scraper '{}'", s);
  }
  std::string host = options_.host_name;
  if (host.empty()) {
    try {
      host = readFile("proc/sys/kernel/hostname");
      while (!host.empty() && (host.back() == '\n' || host.back() == ' ')) host.pop_back();
    } catch (const Exception&) {
    }
  }
  if (host.empty()) {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0) host = buf;
  }
  resource_ = makeResource(options_, host);
  for (const auto& s : allScrapers()) {
    auto scope = std::make_shared<pipeline::Scope>();
    scope->name = std::string(kScopePrefix) + s + "scraper";
    scope->version = "kobs";
    scopes_[s] = scope;
  }
}

std::filesystem::path HostScraper::path(std::string_view rel) const { return options_.root / rel; }

std::string HostScraper::readFile(std::string_view rel) const {
  const auto p = path(rel);
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Exception(ErrorCode::kIo, "cannot read {}", p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string HostScraper::readFirst(std::initializer_list<std::string_view> rels) const {
  std::string last;
  for (auto rel : rels) {
    try {
      return readFile(rel);
    } catch (const Exception& e) {
      last = e.what();
    }
  }
  throw Exception(ErrorCode::kIo, "{}", last);
}

int64_t HostScraper::bootTimeNano() {
  if (boot_time_nano_) return boot_time_nano_;
  const std::string stat = readFile("proc/stat");
  forEachLine(stat, [&](std::string_view line) {
    auto f = fields(line);
    if (f.size() == 2 && f[0] == "btime") boot_time_nano_ = int64_t(toU64(f[1])) * 1000000000LL;
  });
  if (!boot_time_nano_) throw Exception(ErrorCode::kBadInput, "no btime line in {}", path("proc/stat").string());
  return boot_time_nano_;
}

std::vector<pipeline::MetricPoint> HostScraper::scrape(int64_t now_unix_nano) {
  errors_.clear();
  scrape::MetricBuilder b(nullptr, now_unix_nano);
  b.setResource(resource_);
  int64_t start = 0;
  try {
    start = bootTimeNano();
  } catch (const std::exception& e) {
    errors_.push_back(fmt::format("boot time: {}", e.what()));
  }
  b.setStart(start);
  using Fn = void (HostScraper::*)(scrape::MetricBuilder&);
  static const std::pair<const char*, Fn> kScrapers[] = {
      {"cpu", &HostScraper::scrapeCpu},         {"load", &HostScraper::scrapeLoad},
      {"memory", &HostScraper::scrapeMemory},   {"paging", &HostScraper::scrapePaging},
      {"disk", &HostScraper::scrapeDisk},       {"filesystem", &HostScraper::scrapeFilesystem},
      {"network", &HostScraper::scrapeNetwork}, {"processes", &HostScraper::scrapeProcesses},
  };
  std::vector<pipeline::MetricPoint> out;
  for (const auto& [name, fn] : kScrapers) {
    if (!options_.scrapers.count(name)) continue;
    scrape::MetricBuilder sb(scopes_.at(name), now_unix_nano);
    sb.setResource(resource_);
    sb.setStart(start);
    try {
      (this->*fn)(sb);
    } catch (const std::exception& e) {
      errors_.push_back(fmt::format("{}: {}", name, e.what()));
      continue;  // nothing of a failed scraper: a half-read file is not a sample
    }
    for (auto& p : sb.points()) out.push_back(std::move(p));
  }
  return out;
}

// /proc/stat "cpuN user nice system idle iowait irq softirq steal ..." in USER_HZ ticks.
void HostScraper::scrapeCpu(scrape::MetricBuilder& b) {
  static constexpr std::string_view kStates[] = {"user", "nice", "system", "idle", "wait", "interrupt", "softirq",
                                                 "steal"};
  const std::string stat = readFile("proc/stat");
  const double hz = double(options_.clock_ticks);
  size_t cpus = 0;
  forEachLine(stat, [&](std::string_view line) {
    auto f = fields(line);
    if (f.size() < 5 || f[0].size() <= 3 || f[0].substr(0, 3) != "cpu") return;  // "cpu" alone is the total
    std::string cpu(f[0]);
    std::vector<double> ticks(8, 0.0);
    for (size_t i = 0; i < 8 && i + 1 < f.size(); ++i) ticks[i] = double(toU64(f[i + 1]));
    for (size_t i = 0; i < 8; ++i) b.add(kCpuTime, ticks[i] / hz, {{"cpu", cpu}, {"state", std::string(kStates[i])}});
    if (options_.cpu_utilization) {
      auto prev = prev_cpu_.find(cpu);
      if (prev != prev_cpu_.end()) {
        double total = 0;
        for (size_t i = 0; i < 8; ++i) total += ticks[i] - prev->second[i];
        for (size_t i = 0; i < 8; ++i) {
          const double u = total > 0 ? (ticks[i] - prev->second[i]) / total : 0.0;
          b.add(kCpuUtil, u, {{"cpu", cpu}, {"state", std::string(kStates[i])}});
        }
      }
      prev_cpu_[cpu] = ticks;
    }
    ++cpus;
  });
  if (cpus == 0) throw Exception(ErrorCode::kBadInput, "no cpuN lines in {}", path("proc/stat").string());
}

void HostScraper::scrapeLoad(scrape::MetricBuilder& b) {
  const std::string text = readFile("proc/loadavg");
  auto f = fields(text);
  if (f.size() < 3) throw Exception(ErrorCode::kBadInput, "short {}", path("proc/loadavg").string());
  b.add(kLoad1, toDouble(f[0]));
  b.add(kLoad5, toDouble(f[1]));
  b.add(kLoad15, toDouble(f[2]));
}

namespace {
std::map<std::string, uint64_t, std::less<>> readKeyValues(std::string_view text, bool kib) {
  std::map<std::string, uint64_t, std::less<>> m;
  forEachLine(text, [&](std::string_view line) {
    auto f = fields(line);
    if (f.size() < 2) return;
    std::string_view key = f[0];
    if (!key.empty() && key.back() == ':') key.remove_suffix(1);
    uint64_t v = 0;
    auto r = std::from_chars(f[1].data(), f[1].data() + f[1].size(), v);
    if (r.ec != std::errc()) return;
    if (kib && f.size() >= 3 && f[2] == "kB") v *= 1024;
    m[std::string(key)] = v;
  });
  return m;
}
uint64_t need(const std::map<std::string, uint64_t, std::less<>>& m, std::string_view key, const std::string& file) {
  auto it = m.find(key);
  if (it == m.end()) throw Exception(ErrorCode::kBadInput, "{} has no {}", file, key);
  return it->second;
}
}  // namespace

// States as gopsutil computes them on Linux (what the collector reports):
// cached is the page cache plus reclaimable slab, used is total minus free,
// buffers and cached; slab_reclaimable and slab_unreclaimable are reported
// on their own as well (so states do not sum to the total).
void HostScraper::scrapeMemory(scrape::MetricBuilder& b) {
  const std::string file = path("proc/meminfo").string();
  auto m = readKeyValues(readFile("proc/meminfo"), true);
  const uint64_t total = need(m, "MemTotal", file);
  const uint64_t free = need(m, "MemFree", file);
  const uint64_t buffers = need(m, "Buffers", file);
  const uint64_t sreclaimable = m.count("SReclaimable") ? m.at("SReclaimable") : 0;
  const uint64_t sunreclaim = m.count("SUnreclaim") ? m.at("SUnreclaim") : 0;
  const uint64_t cached = need(m, "Cached", file) + sreclaimable;
  int64_t used = int64_t(total) - int64_t(free) - int64_t(buffers) - int64_t(cached);
  if (used < 0) used = int64_t(total) - int64_t(free);
  const std::pair<const char*, double> states[] = {
      {"used", double(used)},
      {"free", double(free)},
      {"buffered", double(buffers)},
      {"cached", double(cached)},
      {"slab_reclaimable", double(sreclaimable)},
      {"slab_unreclaimable", double(sunreclaim)},
  };
  for (const auto& [s, v] : states) b.add(kMemUsage, v, {{"state", s}});
  if (options_.memory_utilization && total > 0)
    for (const auto& [s, v] : states) b.add(kMemUtil, v / double(total), {{"state", s}});
}

// /proc/swaps (KiB) per device; /proc/vmstat for operations and faults.
void HostScraper::scrapePaging(scrape::MetricBuilder& b) {
  const std::string swaps = readFile("proc/swaps");
  bool header = true;
  forEachLine(swaps, [&](std::string_view line) {
    if (header) {
      header = false;
      return;
    }
    auto f = fields(line);
    if (f.size() < 4) return;
    const uint64_t size = toU64(f[2]) * 1024, used = toU64(f[3]) * 1024;
    std::string dev = unescapeMount(f[0]);
    b.add(kPagingUsage, double(used), {{"device", dev}, {"state", "used"}});
    b.add(kPagingUsage, double(size >= used ? size - used : 0), {{"device", dev}, {"state", "free"}});
  });
  const std::string file = path("proc/vmstat").string();
  auto v = readKeyValues(readFile("proc/vmstat"), false);
  b.add(kPagingOps, double(need(v, "pswpin", file)), {{"direction", "page_in"}, {"type", "major"}});
  b.add(kPagingOps, double(need(v, "pswpout", file)), {{"direction", "page_out"}, {"type", "major"}});
  b.add(kPagingOps, double(need(v, "pgpgin", file)), {{"direction", "page_in"}, {"type", "minor"}});
  b.add(kPagingOps, double(need(v, "pgpgout", file)), {{"direction", "page_out"}, {"type", "minor"}});
  const uint64_t faults = need(v, "pgfault", file), major = need(v, "pgmajfault", file);
  b.add(kPagingFaults, double(major), {{"type", "major"}});
  b.add(kPagingFaults, double(faults >= major ? faults - major : 0), {{"type", "minor"}});
}

// /proc/diskstats: major minor name reads merged sectors ms writes merged sectors ms inflight io_ms weighted_ms ...
void HostScraper::scrapeDisk(scrape::MetricBuilder& b) {
  const std::string text = readFile("proc/diskstats");
  forEachLine(text, [&](std::string_view line) {
    auto f = fields(line);
    if (f.size() < 14) return;
    std::string dev(f[2]);
    auto n = [&](size_t i) { return double(toU64(f[i])); };
    b.add(kDiskIo, n(5) * 512, {{"device", dev}, {"direction", "read"}});
    b.add(kDiskIo, n(9) * 512, {{"device", dev}, {"direction", "write"}});
    b.add(kDiskOps, n(3), {{"device", dev}, {"direction", "read"}});
    b.add(kDiskOps, n(7), {{"device", dev}, {"direction", "write"}});
    b.add(kDiskIoTime, n(12) / 1000, {{"device", dev}});
    b.add(kDiskOpTime, n(6) / 1000, {{"device", dev}, {"direction", "read"}});
    b.add(kDiskOpTime, n(10) / 1000, {{"device", dev}, {"direction", "write"}});
    b.add(kDiskWeighted, n(13) / 1000, {{"device", dev}});
    b.add(kDiskPending, n(11), {{"device", dev}});
    b.add(kDiskMerged, n(4), {{"device", dev}, {"direction", "read"}});
    b.add(kDiskMerged, n(8), {{"device", dev}, {"direction", "write"}});
  });
}

void HostScraper::scrapeFilesystem(scrape::MetricBuilder& b) {
  std::unordered_set<std::string> nodev;
  if (!options_.include_virtual_filesystems) {
    forEachLine(readFile("proc/filesystems"), [&](std::string_view line) {
      auto f = fields(line);
      if (f.size() == 2 && f[0] == "nodev") nodev.emplace(f[1]);
    });
  }
  const std::string mounts = readFirst({"proc/1/mounts", "proc/self/mounts", "proc/mounts"});
  size_t failed = 0, seen = 0;
  forEachLine(mounts, [&](std::string_view line) {
    auto f = fields(line);
    if (f.size() < 4) return;
    std::string type(f[2]);
    if (nodev.count(type)) return;
    ++seen;
    const std::string device = unescapeMount(f[0]);
    const std::string mountpoint = unescapeMount(f[1]);
    std::string mode = "unknown";
    {
      std::string_view opts = f[3];
      size_t p = 0;
      while (p <= opts.size()) {
        size_t c = opts.find(',', p);
        if (c == std::string_view::npos) c = opts.size();
        auto o = opts.substr(p, c - p);
        if (o == "ro" || o == "rw") {
          mode = std::string(o);
          break;
        }
        p = c + 1;
      }
    }
    auto st = options_.statfs(options_.root / std::filesystem::path(mountpoint).relative_path());
    if (!st) {
      ++failed;
      return;
    }
    Attributes base{{"device", device}, {"mode", mode}, {"mountpoint", mountpoint}, {"type", type}};
    auto with = [&](const char* state) {
      Attributes a = base;
      a.emplace_back("state", state);
      return a;
    };
    const uint64_t used = st->total_bytes >= st->free_bytes ? st->total_bytes - st->free_bytes : 0;
    const uint64_t reserved = st->free_bytes >= st->available_bytes ? st->free_bytes - st->available_bytes : 0;
    b.add(kFsUsage, double(used), with("used"));
    b.add(kFsUsage, double(st->available_bytes), with("free"));
    b.add(kFsUsage, double(reserved), with("reserved"));
    b.add(kFsInodes, double(st->total_inodes >= st->free_inodes ? st->total_inodes - st->free_inodes : 0),
          with("used"));
    b.add(kFsInodes, double(st->free_inodes), with("free"));
  });
  if (seen > 0 && failed == seen) throw Exception(ErrorCode::kIo, "statvfs failed on every mountpoint");
}

// TCP states as /proc/net/tcp numbers them, named as gopsutil names them.
static constexpr std::string_view kTcpStateNames[] = {"",          "ESTABLISHED", "SYN_SENT",   "SYN_RECV",
                                                      "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",  "CLOSE",
                                                      "CLOSE_WAIT", "LAST_ACK",   "LISTEN",     "CLOSING"};
// The states the collector always reports (0 when none), on Linux.
static constexpr std::string_view kTcpReportedStates[] = {"CLOSE_WAIT", "CLOSE",     "CLOSING",  "DELETE",
                                                          "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "LAST_ACK",
                                                          "LISTEN",     "SYN_SENT",  "SYN_RECV", "TIME_WAIT"};

void HostScraper::scrapeNetwork(scrape::MetricBuilder& b) {
  const std::string dev = readFirst({"proc/1/net/dev", "proc/net/dev"});
  forEachLine(dev, [&](std::string_view line) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return;
    auto f = fields(line.substr(colon + 1));
    if (f.size() < 16) return;
    auto name_f = fields(line.substr(0, colon));
    if (name_f.empty()) return;
    std::string name(name_f[0]);
    auto n = [&](size_t i) { return double(toU64(f[i])); };
    b.add(kNetPackets, n(9), {{"device", name}, {"direction", "transmit"}});
    b.add(kNetPackets, n(1), {{"device", name}, {"direction", "receive"}});
    b.add(kNetDropped, n(11), {{"device", name}, {"direction", "transmit"}});
    b.add(kNetDropped, n(3), {{"device", name}, {"direction", "receive"}});
    b.add(kNetErrors, n(10), {{"device", name}, {"direction", "transmit"}});
    b.add(kNetErrors, n(2), {{"device", name}, {"direction", "receive"}});
    b.add(kNetIo, n(8), {{"device", name}, {"direction", "transmit"}});
    b.add(kNetIo, n(0), {{"device", name}, {"direction", "receive"}});
  });
  std::map<std::string, int64_t> counts;
  for (auto s : kTcpReportedStates) counts[std::string(s)] = 0;
  bool any_file = false;
  for (auto [primary, fallback] : {std::pair<std::string_view, std::string_view>{"proc/1/net/tcp", "proc/net/tcp"},
                                   {"proc/1/net/tcp6", "proc/net/tcp6"}}) {
    std::string text;
    try {
      text = readFirst({primary, fallback});
    } catch (const Exception&) {
      continue;  // no IPv6 on this host
    }
    any_file = true;
    bool header = true;
    forEachLine(text, [&](std::string_view line) {
      if (header) {
        header = false;
        return;
      }
      auto f = fields(line);
      if (f.size() < 4) return;
      unsigned st = 0;
      std::from_chars(f[3].data(), f[3].data() + f[3].size(), st, 16);
      if (st >= 1 && st < std::size(kTcpStateNames)) ++counts[std::string(kTcpStateNames[st])];
    });
  }
  if (!any_file) throw Exception(ErrorCode::kIo, "cannot read {}", path("proc/net/tcp").string());
  for (const auto& [state, n] : counts) b.add(kNetConns, double(n), {{"protocol", "tcp"}, {"state", state}});
}

// Per-process states from /proc/<pid>/stat; running and blocked from
// /proc/stat (one read, more accurate than the walk), as the collector does.
void HostScraper::scrapeProcesses(scrape::MetricBuilder& b) {
  const std::string file = path("proc/stat").string();
  auto stat = readKeyValues(readFile("proc/stat"), false);
  std::map<std::string, int64_t> by_status;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(path("proc"), ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "stat");
    std::string line;
    if (!in || !std::getline(in, line)) continue;  // the process exited meanwhile
    auto rp = line.rfind(')');
    if (rp == std::string::npos || rp + 2 >= line.size()) continue;
    const char s = line[rp + 2];
    const char* status = "unknown";
    switch (s) {
      case 'R': status = "running"; break;
      case 'S': status = "sleeping"; break;
      case 'D': status = "blocked"; break;
      case 'T': case 't': status = "stopped"; break;
      case 'Z': status = "zombies"; break;
      case 'I': status = "idle"; break;
      case 'W': status = "paging"; break;
      case 'L': status = "locked"; break;
      default: break;
    }
    ++by_status[status];
  }
  by_status["running"] = int64_t(need(stat, "procs_running", file));
  by_status["blocked"] = int64_t(need(stat, "procs_blocked", file));
  for (const auto& [status, n] : by_status) b.add(kProcCount, double(n), {{"status", status}});
  b.add(kProcCreated, double(need(stat, "processes", file)));
}

}  // namespace kobs::collect::host_metrics
