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
//   BM_SenderDrain        the sender (sender.writers = 1 or 2, as kobs wires it: one store per
//                         writer) draining a disk buffer that holds 300k otel_logs rows in
//                         2 MiB batches (batch.max_bytes), merged up to 10k rows / 8 MiB per
//                         insert, skip indexes left to merges: kobs's defaults end to end from
//                         the buffer (targets >= 150k rows/s with one writer, >= 300k with two)
// Every insert carries a fresh insert_deduplication_token, as the sender's do.
// Run: build/release/bench/pipeline/bench_pipeline (needs libchdb, see setup.sh);
// a profile of one case: docs/performance.md.
#include <benchmark/benchmark.h>

#include <atomic>
#include <time.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <map>
#include <mutex>
#include <filesystem>

#include <fmt/format.h>

#include "bench_records.h"
#include "pipeline/batcher.h"
#include "pipeline/disk_buffer.h"
#include "pipeline/otel_encoders.h"
#include "pipeline/store_sender.h"
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
using StoreMap = std::map<std::pair<std::string, int>, std::unique_ptr<store::EmbeddedStore>>;
StoreMap& benchStores() {
  static StoreMap stores;
  return stores;
}

store::EmbeddedStore& benchStore(int variant = kClickStack, int slot = 0) {
  static std::mutex mutex;
  auto& stores = benchStores();
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

// The sender draining a full disk buffer into the store. Setup (not timed):
// the table emptied (no merges of earlier cases left running), a new buffer
// filled with the batches; timed: start() until every batch is committed.
void BM_SenderDrain(benchmark::State& state) {
  const int writers = int(state.range(0));
  const int variant = int(state.range(1));
  static const char* kLabels[] = {"clickstack", "exporter", "kobs+events", "kobs+logs", "kobs+noidx"};
  state.SetLabel(fmt::format("{} writers={}", kLabels[variant], writers));
  auto& s = benchStore(variant, 0);
  std::vector<store::IStore*> others;
  for (int i = 1; i < writers; ++i) others.push_back(&benchStore(variant, i));
  LogEncoder encoder("otel_logs", logColumns(s, s.database()), logBindings());
  // One batch as the batcher seals it at batch.max_bytes, with its row ends.
  auto records = makeRecords(10000, variant == kEvents);
  BatchHeader header{"otel_logs", encoder.columns(), "RowBinary", 0, {}, {}};
  std::string body;
  for (const auto& r : records) {
    if (body.size() >= kDefaultBatchMaxBytes) break;
    encoder.encode(r, body);
    header.row_ends.push_back(uint32_t(body.size()));
    header.row_days.push_back(20412);
    ++header.rows;
  }
  constexpr uint64_t kTotalRows = 300000;
  const uint64_t batches = (kTotalRows + header.rows - 1) / header.rows;
  timespec c0{}, c1{};
  double cpu = 0;
  uint64_t rows = 0, inserts = 0;
  for (auto _ : state) {
    s.execute("TRUNCATE TABLE otel_logs");
    const auto dir = benchDir() / "buffer";
    std::filesystem::remove_all(dir);
    DiskBufferOptions bo;
    bo.dir = dir;
    bo.fsync = FsyncPolicy::kNever;  // the fill is not what is measured
    bo.max_bytes = 4ull << 30;
    DiskBuffer buffer(bo);
    for (uint64_t b = 0; b < batches; ++b) buffer.append(header, body);
    SenderOptions so;
    so.writers = writers;
    so.merge_max_rows = kDefaultBatchMaxRows;  // as app/config.cc sets them on the embedded store
    so.merge_max_bytes = 8u << 20;
    so.dead_letter_dir = dir / "dead";
    StoreSender sender(s, buffer, so);
    sender.setWriterStores(others);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    const auto t0 = std::chrono::steady_clock::now();
    sender.start();
    while (buffer.committedSeq() < batches) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const auto t1 = std::chrono::steady_clock::now();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    sender.stop();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    cpu += double(c1.tv_sec - c0.tv_sec) + double(c1.tv_nsec - c0.tv_nsec) / 1e9;
    rows += batches * header.rows;
    inserts += sender.stats().inserts_committed.load();
    if (sender.stats().rows_committed.load() != batches * header.rows)
      state.SkipWithError("the sender did not store every row");
  }
  state.SetItemsProcessed(int64_t(rows));
  state.counters["rows_per_cpu_s"] = cpu > 0 ? double(rows) / cpu : 0;
  state.counters["rows_per_insert"] = inserts > 0 ? double(rows) / double(inserts) : 0;
  state.counters["rows_per_batch"] = double(header.rows);
}
BENCHMARK(BM_SenderDrain)
    ->ArgsProduct({{1, 2}, {kClickStack, kLogs}})
    ->ArgNames({"writers", "variant"})
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // The stores close while chDB is still loaded, then their data goes: left to
  // static destruction they closed after the engine's own exit handlers had
  // run, and the process crashed on the way out.
  benchStores().clear();
  std::filesystem::remove_all(benchDir());
  return 0;
}
