// Issue 2 figures: otel_logs-shaped rows (300-byte body, 10 attributes).
//   BM_EncodeLogs        encoder rows/s on one core            (target >= 1M)
//   BM_EmbeddedInsert    embedded-store insert rows/s, 1 thread (target >= 300k)
// Run: build/release/bench/pipeline/bench_pipeline (needs libchdb, see setup.sh).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>

#include "pipeline/otel_encoders.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

namespace {

using namespace kobs;
using namespace kobs::pipeline;

std::vector<ColumnSpec> logColumns(store::IStore& s, const std::string& database) {
  auto layout = store::schema::describeTable(s, database, "otel_logs");
  std::vector<ColumnSpec> cols;
  for (const auto& c : layout.insertableColumns()) cols.push_back({c.name, c.type});
  return cols;
}

std::vector<LogRecord> makeRecords(size_t n) {
  auto resource = std::make_shared<Resource>();
  resource->attributes = {{"service.name", "krateo-core-provider"},
                          {"k8s.namespace.name", "krateo-system"},
                          {"k8s.pod.name", "core-provider-7d9c8b-x2x9k"},
                          {"k8s.node.name", "worker-1"},
                          {"telemetry.source", "k8s-events"}};
  auto scope = std::make_shared<Scope>();
  scope->name = "kobs";
  std::vector<LogRecord> out(n);
  for (size_t i = 0; i < n; ++i) {
    auto& r = out[i];
    r.resource = resource;
    r.scope = scope;
    r.time_unix_nano = 1764000000000000000 + int64_t(i);
    r.severity_number = 9;
    r.severity_text = "Normal";
    r.body = std::string(300, 'a' + char(i % 26));
    r.attributes = {{"k8s.event.reason", "Scheduled"},     {"k8s.event.action", "Binding"},
                    {"k8s.event.name", "pod.17a2b3c4d5e6"}, {"k8s.event.uid", "9b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"},
                    {"k8s.event.count", "1"}};
  }
  return out;
}

// The embedded engine boots once per process; both stores share it (same
// data path), one per database: ClickStack's tables and the exporter's.
std::filesystem::path benchDir() {
  static std::filesystem::path dir = std::filesystem::temp_directory_path() / ("kobs-bench-" + std::to_string(::getpid()));
  return dir;
}

store::EmbeddedStore& benchStore(bool exporter = false) {
  static auto open = [](const char* database, store::schema::Variant variant) {
    store::EmbeddedOptions o;
    o.data_dir = benchDir().string();
    o.database = database;
    auto* st = new store::EmbeddedStore(o);
    store::schema::SchemaOptions so;
    so.database = database;
    so.variant = variant;
    store::schema::SchemaManager::apply(*st, so);
    return st;
  };
  static store::EmbeddedStore* clickstack = [] {
    std::atexit([] { std::filesystem::remove_all(benchDir()); });
    return open("bench", store::schema::Variant::kClickStack);
  }();
  static store::EmbeddedStore* exporter_store = open("bench_exporter", store::schema::Variant::kExporter);
  return exporter ? *exporter_store : *clickstack;
}

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

void BM_EmbeddedInsert(benchmark::State& state) {
  auto& s = benchStore(state.range(1) != 0);
  const size_t batch = size_t(state.range(0));
  state.SetLabel(state.range(1) ? "exporter tables (bloom)" : "clickstack tables (text indexes)");
  LogEncoder encoder("otel_logs", logColumns(s, s.database()), logBindings());
  auto records = makeRecords(batch);
  std::string body;
  for (const auto& r : records) encoder.encode(r, body);
  for (auto _ : state) {
    store::InsertRequest req;
    req.table = "otel_logs";
    req.columns = encoder.columns();
    req.body = body;
    req.rows = batch;
    s.insert(req);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(batch));
}
BENCHMARK(BM_EmbeddedInsert)
    ->ArgsProduct({{10000, 100000}, {0, 1}})
    ->ArgNames({"rows", "exporter"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
