// Kubernetes events write path on one core: parse + map (EventMapper) +
// composition resolve (warm cache) + encode (batcher) + insert into the
// embedded store (chDB) through the disk buffer, as the receiver's watch
// thread and the pipeline do it. The whole process is pinned to one CPU.
// Prints notifications/s and RSS after 100k and after 1M notifications,
// then runs Google Benchmark micro-benchmarks of map+resolve alone.
// After each checkpoint it prints what the engine holds (its tracked memory
// and each cache, system.metrics) beside the process's RSS.
//   bench_k8s_events [--total=N] [--skip-indexes-on-insert=1] [--max-memory=BYTES (0: chDB defaults)]
//                    [benchmark flags]
#include <benchmark/benchmark.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "collect/composition/composition_resolver.h"
#include "collect/k8s_events/event_mapping.h"
#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

using namespace kobs;
using collect::composition::CompositionResolver;
using collect::composition::ObjectRef;

namespace {

constexpr int kObjects = 2000;

std::vector<std::string> makeEvents(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    const std::string pod = "fireworks-demo-frontend-5d8f7c9b6-" + std::to_string(i % kObjects);
    nlohmann::json e = {
        {"apiVersion", "v1"},
        {"kind", "Event"},
        {"metadata", {{"name", pod + "." + std::to_string(0x17a8c2f3b1e40000ull + i)}, {"namespace", "demo-system"},
                      {"uid", "9d0e1f2a-3b4c-4d5e-8f6a-" + std::to_string(100000000000ull + i)},
                      {"resourceVersion", std::to_string(5000000 + i)}, {"creationTimestamp", "2025-11-25T10:00:00Z"}}},
        {"involvedObject", {{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", pod}, {"namespace", "demo-system"},
                            {"uid", "6b7c8d9e-0f1a-4b2c-9d4e-" + std::to_string(200000000000ull + i % kObjects)},
                            {"resourceVersion", "48213"}, {"fieldPath", "spec.containers{frontend}"}}},
        {"reason", i % 7 == 0 ? "BackOff" : "Pulled"},
        {"message", i % 7 == 0 ? "Back-off restarting failed container frontend in pod " + pod
                               : "Container image \"ghcr.io/krateoplatformops/fireworks-app:1.2.0\" already present on machine"},
        {"source", {{"component", "kubelet"}, {"host", "node-" + std::to_string(i % 5)}}},
        {"firstTimestamp", "2025-11-25T10:00:00Z"},
        {"lastTimestamp", "2025-11-25T10:05:00Z"},
        {"count", 1 + i % 9},
        {"type", i % 7 == 0 ? "Warning" : "Normal"},
        {"eventTime", nullptr},
        {"reportingComponent", "kubelet"},
        {"reportingInstance", "node-" + std::to_string(i % 5)}};
    out.push_back(e.dump());
  }
  return out;
}


std::unique_ptr<CompositionResolver> warmResolver(const std::vector<std::string>& events) {
  collect::composition::ResolverOptions o;
  o.api_calls_per_second = 0;
  auto r = std::make_unique<CompositionResolver>(
      [](const ObjectRef& ref) -> std::optional<std::string> {
        return nlohmann::json{{"metadata", {{"uid", ref.uid}, {"labels", {{"krateo.io/composition-id", "5f0c3c1e-8a4b-4d52-9a3e-2b7f6c1d9e01"}}}}}}.dump();
      },
      o);
  collect::k8s_events::EventMapper m;
  for (const auto& e : events) {
    const auto& p = m.parse(e);
    r->resolve({p.involved.api_version, p.involved.kind, p.involved.ns, p.involved.name, p.involved.uid});
  }
  return r;
}

double rssMiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// User + system CPU of the whole process.
double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

// The engine's own accounting: tracked memory and the caches that hold bytes.
void printEngineMemory(store::EmbeddedStore& store) {
  auto r = store.query(
      "SELECT metric, round(value / 1048576, 1) FROM system.metrics WHERE value != 0 AND (metric = 'MemoryTracking' "
      "OR metric LIKE '%CacheBytes') ORDER BY metric",
      "TabSeparated");
  std::string line = "  engine MiB:";
  for (size_t pos = 0; pos < r.data.size();) {
    size_t end = r.data.find('\n', pos);
    if (end == std::string::npos) end = r.data.size();
    std::string row = r.data.substr(pos, end - pos);
    if (auto tab = row.find('\t'); tab != std::string::npos) line += " " + row.substr(0, tab) + "=" + row.substr(tab + 1);
    pos = end + 1;
  }
  std::printf("%s\n", line.c_str());
}

void runPipeline(long total, bool skip_indexes_on_insert, uint64_t max_memory) {
  char tmpl[] = "/tmp/kobs-bench-events-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(tmpl);
  store::EmbeddedOptions so;
  so.skip_indexes_on_insert = skip_indexes_on_insert;
  so.max_memory = max_memory;
  so.data_dir = (dir / "store").string();
  so.database = "bench";
  store::EmbeddedStore store(so);
  store::schema::SchemaOptions schema_options;
  schema_options.database = "bench";
  auto schema = store::schema::SchemaManager::apply(store, schema_options);
  const auto targets = pipeline::targetsFromSchema(schema);
  pipeline::PipelineOptions po;
  po.buffer.dir = dir / "buffer";
  po.buffer.fsync = pipeline::FsyncPolicy::kInterval;
  pipeline::Pipeline pipe(store, targets, po);
  pipe.start();

  auto events = makeEvents(10000);
  auto resolver = warmResolver(events);
  collect::k8s_events::EventMapper mapper;
  std::atomic<long> committed{0};
  auto now_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };

  // notif/CPU-s: per CPU-second of the whole process (every thread, chDB's
  // too): on a shared machine the pinned core is not ours alone, so this is
  // the figure to hold against "one core".
  std::printf("%-14s %14s %12s %12s %14s\n", "notifications", "notif/s", "RSS MiB", "rows stored", "notif/CPU-s");
  const double rss_start = rssMiB();
  std::printf("%-14s %14s %12.1f %12s\n", "start", "-", rss_start, "-");
  long done = 0;
  double rss_100k = 0;
  for (long checkpoint : {100000L, total}) {
    auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = cpuSeconds();
    const long from = done;
    for (; done < checkpoint; ++done) {
      const auto& json = events[size_t(done) % events.size()];
      const auto& e = mapper.parse(json);
      auto id = resolver->resolve({e.involved.api_version, e.involved.kind, e.involved.ns, e.involved.name, e.involved.uid});
      auto rec = mapper.toRecord("ADDED", json, e, now_ns(), id);
      pipe.logs().add(rec, [&committed](bool ok) { if (ok) committed.fetch_add(1, std::memory_order_relaxed); });
    }
    pipe.flush();
    while (committed.load() < done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double rss = rssMiB();
    if (checkpoint == 100000) rss_100k = rss;
    const double cpu = cpuSeconds() - cpu0;
    std::printf("%-14ld %14.0f %12.1f %12ld %14.0f\n", checkpoint, double(done - from) / secs, rss, committed.load(),
                double(done - from) / cpu);
    printEngineMemory(store);
  }
  auto rows = store.query("SELECT count() FROM bench.otel_logs", "TabSeparated");
  std::printf("rows in otel_logs: %s", rows.data.c_str());
  std::printf("RSS growth 100k -> %ld: %.1f MiB (target < 20)\n", total, rssMiB() - rss_100k);
  std::printf("resolver cache hit ratio: %.4f\n", resolver->hitRatio());
  pipe.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(30));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

void BM_MapAndResolveWarm(benchmark::State& state) {
  auto events = makeEvents(10000);
  auto resolver = warmResolver(events);
  collect::k8s_events::EventMapper mapper;
  size_t i = 0;
  for (auto _ : state) {
    const auto& json = events[i++ % events.size()];
    const auto& e = mapper.parse(json);
    auto id = resolver->resolve({e.involved.api_version, e.involved.kind, e.involved.ns, e.involved.name, e.involved.uid});
    auto rec = mapper.toRecord("ADDED", json, e, 1, id);
    benchmark::DoNotOptimize(rec);
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_MapAndResolveWarm);

}  // namespace

int main(int argc, char** argv) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof set, &set);  // threads started after this inherit it: one core for all
  long total = 1000000;
  bool skip_indexes_on_insert = false;  // store.embedded.skip_indexes_on_insert
  uint64_t max_memory = store::EmbeddedOptions{}.max_memory;  // store.embedded.max_memory
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--total=", 0) == 0) total = std::atol(a.c_str() + 8);
    else if (a == "--skip-indexes-on-insert=1") skip_indexes_on_insert = true;
    else if (a.rfind("--max-memory=", 0) == 0) max_memory = std::stoull(a.substr(13));
    else rest.push_back(argv[i]);
  }
  std::printf("store.embedded.max_memory = %llu bytes\n", static_cast<unsigned long long>(max_memory));
  runPipeline(total, skip_indexes_on_insert, max_memory);
  int n = int(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
