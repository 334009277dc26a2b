// Issue 2 and 14 figures: otel_logs-shaped rows (300-byte body, 10 attributes).
//   BM_EncodeLogs         encoder rows/s on one core                  (target >= 1M)
//   BM_EmbeddedInsert     embedded-store insert rows/s, one writer,   (target >= 150k)
//                         by batch size and table setup (variant):
//     0 clickstack    ClickStack's otel_logs (seven text indexes), no view
//     1 exporter      the Collector exporter's otel_logs (bloom filters)
//     2 kobs+events   as `kobs` creates it: ClickStack + the krateo_events view, every row an event row
//     3 kobs+logs     the same tables, rows that are not events (pod logs, OTLP): the view filters them out
//     4 kobs+noidx    as 2 with materialize_skip_indexes_on_insert=0 (indexes built by merges)
//   BM_EmbeddedInsertTwoWriters  two threads, each on its own writer connection (target >= 300k)
// Every insert carries a fresh insert_deduplication_token, as the sender's do.
// Run: build/release/bench/pipeline/bench_pipeline (needs libchdb, see setup.sh);
// a profile of one case: docs/performance.md.
#include <benchmark/benchmark.h>

#include <atomic>
#include <time.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <filesystem>

#include <fmt/format.h>

#include "bench_records.h"
#include "pipeline/otel_encoders.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

namespace {

using namespace kobs;
using namespace kobs::pipeline;
using kobs::pipeline::bench::makeRecords;

std::vector<ColumnSpec> logColumns(store::IStore& s, const std::string& database) {
  auto layout = store::schema::describeTable(s, database, "otel_logs");
  std::vector<ColumnSpec> cols;
  for (const auto& c : layout.insertableColumns()) cols.push_back({c.name, c.type});
  return cols;
}

// The embedded engine boots once per process; both stores share it (same
// data path), one per database: ClickStack's tables and the exporter's.
std::filesystem::path benchDir() {
  static std::filesystem::path dir = std::filesystem::temp_directory_path() / ("kobs-bench-" + std::to_string(::getpid()));
  return dir;
}

enum Variant { kClickStack = 0, kExporter = 1, kEvents = 2, kLogs = 3, kNoIndexOnInsert = 4 };

// One store (writer connection) per (database, slot): slot 1 is the second
// writer of BM_EmbeddedInsertTwoWriters.
store::EmbeddedStore& benchStore(int variant = kClickStack, int slot = 0) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, int>, std::unique_ptr<store::EmbeddedStore>> stores;
  static bool cleanup = (std::atexit([] { std::filesystem::remove_all(benchDir()); }), true);
  (void)cleanup;
  const std::string database = variant == kExporter ? "bench_exporter" : variant == kClickStack ? "bench" : "bench_kobs";
  std::lock_guard lock(mutex);
  auto& st = stores[{database, slot}];
  if (!st) {
    store::EmbeddedOptions o;
    o.data_dir = benchDir().string();
    o.database = database;
    o.reader_connections = 1;
    st = std::make_unique<store::EmbeddedStore>(o);
    if (slot == 0) {
      store::schema::SchemaOptions so;
      so.database = database;
      so.variant = variant == kExporter ? store::schema::Variant::kExporter : store::schema::Variant::kClickStack;
      so.krateo_events = variant >= kEvents;
      store::schema::SchemaManager::apply(*st, so);
    }
  }
  return *st;
}

std::atomic<uint64_t> token_seq{0};

void BM_EncodeLogs(benchmark::State& state) {
  auto& s = benchStore();
  LogEncoder encoder("otel_logs", logColumns(s, s.database()), logBindings());
  auto records = makeRecords(10000);
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (const auto& r : records) encoder.encode(r, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(records.size()));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(out.size()));
}
BENCHMARK(BM_EncodeLogs)->Unit(benchmark::kMillisecond);

void insertLoop(benchmark::State& state, store::EmbeddedStore& s, int variant, size_t batch) {
  LogEncoder encoder("otel_logs", logColumns(s, s.database()), logBindings());
  auto records = makeRecords(batch, variant != kLogs);
  std::string body;
  for (const auto& r : records) encoder.encode(r, body);
  timespec c0{}, c1{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  for (auto _ : state) {
    store::InsertRequest req;
    req.table = "otel_logs";
    req.columns = encoder.columns();
    req.body = body;
    req.rows = batch;
    req.deduplication_token = "bench-" + std::to_string(::getpid()) + "-" + std::to_string(token_seq++);
    // Explicit either way: the store's default (store.embedded.skip_indexes_on_insert) is off.
    req.settings.emplace_back("materialize_skip_indexes_on_insert", variant == kNoIndexOnInsert ? "0" : "1");
    s.insert(req);
  }
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  const double cpu = double(c1.tv_sec - c0.tv_sec) + double(c1.tv_nsec - c0.tv_nsec) / 1e9;
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(batch));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(body.size()));
  // Rows per second of the whole process's CPU (chDB works on its own
  // threads): steadier than real time on a shared machine. With two writer
  // threads both see the same process clock, so it is averaged, not summed.
  state.counters["rows_per_cpu_s"] = benchmark::Counter(
      cpu > 0 ? double(state.iterations() * batch) / cpu : 0, benchmark::Counter::kAvgThreads);
}

void BM_EmbeddedInsert(benchmark::State& state) {
  const int variant = int(state.range(1));
  static const char* kLabels[] = {"clickstack", "exporter", "kobs+events", "kobs+logs", "kobs+noidx"};
  state.SetLabel(kLabels[variant]);
  insertLoop(state, benchStore(variant), variant, size_t(state.range(0)));
}
BENCHMARK(BM_EmbeddedInsert)
    ->ArgsProduct({{10, 1000, 10000, 30000, 100000}, {kClickStack, kExporter, kEvents, kLogs, kNoIndexOnInsert}})
    ->ArgNames({"rows", "variant"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Two writer connections inserting at once into the same tables (the lever
// of several writers; kobs itself has one writer connection today).
void BM_EmbeddedInsertTwoWriters(benchmark::State& state) {
  const int variant = int(state.range(1));
  auto& s = benchStore(variant, 0);  // the schema, once
  insertLoop(state, state.thread_index() == 0 ? s : benchStore(variant, 1), variant, size_t(state.range(0)));
}
BENCHMARK(BM_EmbeddedInsertTwoWriters)
    ->ArgsProduct({{10000, 30000}, {kClickStack, kLogs, kNoIndexOnInsert}})
    ->ArgNames({"rows", "variant"})
    ->Threads(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
