// Issue 12 figures (OTLP ingest):
//   BM_ParseLogs / BM_ParseSpans          protobuf parse into an arena only (for the breakdown)
//   BM_WireDecodeMapEncodeLogs            the receiver's protobuf path: wire reader -> borrowed records ->
//                                         RowBinary, one core (300-byte body, 10 attributes; target >= 1M logs/s)
//   BM_WireDecodeMapEncodeSpans           the same for spans (10 attributes, 2 events; target >= 500k spans/s)
//   BM_DecodeMapEncodeLogs                the generated parser (arena) + map to owning records + encode:
//                                         the path for OTLP JSON, metrics and bodies the wire reader leaves
//   BM_DecodeMapEncodeLogsJson            the same logs as OTLP JSON
//   BM_DecodeMapEncodeSpans               the same for spans (10 attributes, 2 events; target >= 500k spans/s)
//   BM_HttpToEmbeddedStore                end to end: OTLP/HTTP protobuf requests of 1000 logs over
//                                         loopback -> receiver -> pipeline -> embedded store (chDB),
//                                         client in the same process; records/s and RSS
//   BM_HttpAckedConcurrent/clients:N      N clients, each sending its requests of 1000 logs one after
//                                         another, buffer.fsync=always (the default): acked_per_s is
//                                         records answered 200 per second (each 200 waits for its
//                                         records to be fsync'd in the disk buffer), stored_per_s
//                                         includes draining into chDB; batches says how many fsync'd
//                                         appends they shared (group commit), inserts how many
//                                         inserts stored them (merge:0 sends one insert per batch, as
//                                         before the sender merged waiting batches)
// Run: build/release/bench/otlp/bench_otlp (needs libchdb, see setup.sh).
#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <google/protobuf/arena.h>
#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <atomic>

#include "collect/otlp/otlp_decode.h"
#include "collect/otlp/otlp_receiver.h"
#include "collect/otlp/otlp_wire.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otel_encoders.h"
#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

namespace {

using namespace kobs;
namespace pb = opentelemetry::proto;

std::filesystem::path benchDir() {
  static std::filesystem::path dir = std::filesystem::temp_directory_path() / ("kobs-bench-otlp-" + std::to_string(::getpid()));
  return dir;
}

struct Store {
  std::unique_ptr<store::EmbeddedStore> store;
  store::schema::Schema schema;
};

Store& benchStore() {
  static Store* s = [] {
    // benchDir()'s path first: a static built after the handler is registered is gone when it runs.
    benchDir();
    std::atexit([] { std::filesystem::remove_all(benchDir()); });
    auto* out = new Store;
    store::EmbeddedOptions o;
    o.data_dir = (benchDir() / "chdb").string();
    o.database = "bench_otlp";
    out->store = std::make_unique<store::EmbeddedStore>(o);
    store::schema::SchemaOptions so;
    so.database = "bench_otlp";
    out->schema = store::schema::SchemaManager::apply(*out->store, so);
    return out;
  }();
  return *s;
}

void attrs(google::protobuf::RepeatedPtrField<pb::common::v1::KeyValue>* a, int n, const char* prefix) {
  for (int i = 0; i < n; ++i) {
    auto* kv = a->Add();
    kv->set_key(std::string(prefix) + ".attr_" + std::to_string(i));
    if (i % 3 == 2) kv->mutable_value()->set_int_value(1000 + i);
    else kv->mutable_value()->set_string_value("value-" + std::to_string(i) + "-abcdefghij");
  }
}

std::string logsRequest(size_t n) {
  pb::collector::logs::v1::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  auto* ra = rl->mutable_resource()->mutable_attributes();
  auto* sn = ra->Add();
  sn->set_key("service.name");
  sn->mutable_value()->set_string_value("checkout");
  attrs(ra, 4, "k8s");
  auto* sl = rl->add_scope_logs();
  sl->mutable_scope()->set_name("io.opentelemetry.bench");
  for (size_t i = 0; i < n; ++i) {
    auto* lr = sl->add_log_records();
    lr->set_time_unix_nano(1764000000000000000ull + i);
    lr->set_observed_time_unix_nano(1764000000000000000ull + i);
    lr->set_severity_number(pb::logs::v1::SEVERITY_NUMBER_INFO);
    lr->set_severity_text("INFO");
    lr->mutable_body()->set_string_value(std::string(300, char('a' + i % 26)));
    attrs(lr->mutable_attributes(), 10, "log");
    lr->set_trace_id(std::string(16, char(i + 1)));
    lr->set_span_id(std::string(8, char(i + 2)));
  }
  return req.SerializeAsString();
}

std::string spansRequest(size_t n) {
  pb::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* sn = rs->mutable_resource()->add_attributes();
  sn->set_key("service.name");
  sn->mutable_value()->set_string_value("checkout");
  attrs(rs->mutable_resource()->mutable_attributes(), 4, "k8s");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("io.opentelemetry.bench");
  for (size_t i = 0; i < n; ++i) {
    auto* s = ss->add_spans();
    s->set_trace_id(std::string(16, char(i + 1)));
    s->set_span_id(std::string(8, char(i + 2)));
    s->set_parent_span_id(std::string(8, char(i + 3)));
    s->set_name("GET /api/orders/{id}");
    s->set_kind(pb::trace::v1::Span::SPAN_KIND_SERVER);
    s->set_start_time_unix_nano(1764000000000000000ull + i);
    s->set_end_time_unix_nano(1764000000000000000ull + i + 1500000);
    attrs(s->mutable_attributes(), 10, "http");
    for (int e = 0; e < 2; ++e) {
      auto* ev = s->add_events();
      ev->set_time_unix_nano(1764000000000000000ull + i + 1000 * e);
      ev->set_name(e ? "retry" : "cache miss");
      attrs(ev->mutable_attributes(), 2, "event");
    }
    s->mutable_status()->set_code(pb::trace::v1::Status::STATUS_CODE_OK);
  }
  return req.SerializeAsString();
}

template <typename Msg>
void parseOnly(benchmark::State& state, const std::string& body, size_t n) {
  for (auto _ : state) {
    google::protobuf::Arena arena;
    auto* m = google::protobuf::Arena::CreateMessage<Msg>(&arena);
    benchmark::DoNotOptimize(m->ParseFromString(body));
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(body.size()));
}

void BM_ParseLogs(benchmark::State& state) {
  parseOnly<pb::collector::logs::v1::ExportLogsServiceRequest>(state, logsRequest(1000), 1000);
}
BENCHMARK(BM_ParseLogs)->Unit(benchmark::kMicrosecond);

void BM_ParseSpans(benchmark::State& state) {
  parseOnly<pb::collector::trace::v1::ExportTraceServiceRequest>(state, spansRequest(1000), 1000);
}
BENCHMARK(BM_ParseSpans)->Unit(benchmark::kMicrosecond);

void BM_DecodeMapEncodeLogs(benchmark::State& state) {
  auto targets = pipeline::targetsFromSchema(benchStore().schema);
  pipeline::LogEncoder encoder(targets.logs.table, targets.logs.columns, pipeline::logBindings());
  const auto body = logsRequest(1000);
  std::string out;
  for (auto _ : state) {
    out.clear();
    auto d = collect::otlp::decodeLogs(body, collect::otlp::Encoding::kProtobuf);
    for (const auto& r : d.records) encoder.encode(r, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 1000);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(body.size()));
}
BENCHMARK(BM_DecodeMapEncodeLogs)->Unit(benchmark::kMicrosecond);

// The OTLP JSON path (boost.json pass for the hex ids, then protobuf's JSON parser).
void BM_DecodeMapEncodeLogsJson(benchmark::State& state) {
  auto targets = pipeline::targetsFromSchema(benchStore().schema);
  pipeline::LogEncoder encoder(targets.logs.table, targets.logs.columns, pipeline::logBindings());
  pb::collector::logs::v1::ExportLogsServiceRequest req;
  req.ParseFromString(logsRequest(1000));
  // protobuf writes ids in base64; OTLP JSON wants hex: leave them out here.
  for (auto& lr : *req.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records()) {
    lr.clear_trace_id();
    lr.clear_span_id();
  }
  std::string body;
  (void)google::protobuf::util::MessageToJsonString(req, &body);
  std::string out;
  for (auto _ : state) {
    out.clear();
    auto d = collect::otlp::decodeLogs(body, collect::otlp::Encoding::kJson);
    for (const auto& r : d.records) encoder.encode(r, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 1000);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(body.size()));
}
BENCHMARK(BM_DecodeMapEncodeLogsJson)->Unit(benchmark::kMicrosecond);

void BM_DecodeMapEncodeSpans(benchmark::State& state) {
  auto targets = pipeline::targetsFromSchema(benchStore().schema);
  pipeline::SpanEncoder encoder(targets.traces.table, targets.traces.columns, pipeline::spanBindings());
  const auto body = spansRequest(1000);
  std::string out;
  for (auto _ : state) {
    out.clear();
    auto d = collect::otlp::decodeSpans(body, collect::otlp::Encoding::kProtobuf);
    for (const auto& r : d.spans) encoder.encode(r, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 1000);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(body.size()));
}
BENCHMARK(BM_DecodeMapEncodeSpans)->Unit(benchmark::kMicrosecond);

// The receiver's path for protobuf logs and traces: the wire reader's
// borrowed records (otlp_wire.h), encoded by the borrowed-record encoders.
void BM_WireDecodeMapEncodeLogs(benchmark::State& state) {
  auto targets = pipeline::targetsFromSchema(benchStore().schema);
  pipeline::LogRefEncoder encoder(targets.logs.table, targets.logs.columns, pipeline::logRefBindings());
  const auto body = logsRequest(1000);
  std::string out;
  for (auto _ : state) {
    out.clear();
    collect::otlp::LogRefs refs;
    if (!collect::otlp::readLogs(body, refs)) state.SkipWithError("the wire reader refused the request");
    for (const auto& r : refs.records) encoder.encode(r, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 1000);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(body.size()));
}
BENCHMARK(BM_WireDecodeMapEncodeLogs)->Unit(benchmark::kMicrosecond);

void BM_WireDecodeMapEncodeSpans(benchmark::State& state) {
  auto targets = pipeline::targetsFromSchema(benchStore().schema);
  pipeline::SpanRefEncoder encoder(targets.traces.table, targets.traces.columns, pipeline::spanRefBindings());
  const auto body = spansRequest(1000);
  std::string out;
  for (auto _ : state) {
    out.clear();
    collect::otlp::SpanRefs refs;
    if (!collect::otlp::readSpans(body, refs)) state.SkipWithError("the wire reader refused the request");
    for (const auto& r : refs.spans) encoder.encode(r, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 1000);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(body.size()));
}
BENCHMARK(BM_WireDecodeMapEncodeSpans)->Unit(benchmark::kMicrosecond);

size_t rssBytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * size_t(sysconf(_SC_PAGESIZE));
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

void BM_HttpToEmbeddedStore(benchmark::State& state) {
  auto& s = benchStore();
  pipeline::PipelineOptions po;
  po.buffer.dir = benchDir() / ("buffer-" + std::to_string(state.iterations()));
  po.buffer.fsync = pipeline::FsyncPolicy::kInterval;
  metrics::Registry registry;
  pipeline::Pipeline pipe(*s.store, pipeline::targetsFromSchema(s.schema), po);
  pipe.start();
  collect::otlp::ReceiverOptions ro;
  ro.http_listen = "127.0.0.1:0";
  ro.grpc_listen = "";
  collect::otlp::Receiver receiver(ro, pipe, registry);
  receiver.start();
  const auto body = logsRequest(1000);
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver.httpPort()) + "/v1/logs";
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, long(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  const size_t rss_before = rssBytes();
  size_t failed = 0;
  for (auto _ : state) {
    long status = 0;
    if (curl_easy_perform(curl) != CURLE_OK) ++failed;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) ++failed;
  }
  // Everything accepted is in the store before the clock stops.
  pipe.flush();
  pipe.buffer().waitDrained(std::chrono::steady_clock::now() + std::chrono::seconds(120));
  state.counters["rss_MiB"] = double(rssBytes()) / (1 << 20);
  state.counters["rss_before_MiB"] = double(rss_before) / (1 << 20);
  state.counters["failed"] = double(failed);
  state.SetItemsProcessed(int64_t(state.iterations()) * 1000);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  receiver.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  pipe.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(30));
}
BENCHMARK(BM_HttpToEmbeddedStore)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(300);

void BM_HttpAckedConcurrent(benchmark::State& state) {
  const int clients = int(state.range(0));
  constexpr int kRequests = 240;  // in all, split between the clients
  auto& s = benchStore();
  metrics::Registry registry;
  for (auto _ : state) {
    pipeline::PipelineOptions po;
    po.buffer.dir = benchDir() / ("buffer-acked-" + std::to_string(clients));
    po.buffer.fsync = pipeline::FsyncPolicy::kAlways;
    if (state.range(1) == 0) po.sender.merge_max_rows = 1;  // a batch per insert
    pipeline::Pipeline pipe(*s.store, pipeline::targetsFromSchema(s.schema), po);
    pipe.start();
    collect::otlp::ReceiverOptions ro;
    ro.http_listen = "127.0.0.1:0";
    ro.grpc_listen = "";
    collect::otlp::Receiver receiver(ro, pipe, registry);
    receiver.start();
    const auto body = logsRequest(1000);
    const std::string url = "http://127.0.0.1:" + std::to_string(receiver.httpPort()) + "/v1/logs";
    std::atomic<size_t> failed{0};
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
      threads.emplace_back([&] {
        CURL* curl = curl_easy_init();
        curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
        curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, long(body.size()));
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        for (int i = 0; i < kRequests / clients; ++i) {
          long status = 0;
          if (curl_easy_perform(curl) != CURLE_OK) ++failed;
          curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
          if (status != 200) ++failed;
        }
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
      });
    for (auto& t : threads) t.join();
    const auto acked = std::chrono::steady_clock::now();
    pipe.flush();
    pipe.buffer().waitDrained(std::chrono::steady_clock::now() + std::chrono::seconds(300));
    const auto drained = std::chrono::steady_clock::now();
    const double records = double(kRequests / clients * clients) * 1000;
    state.SetIterationTime(std::chrono::duration<double>(acked - t0).count());
    state.counters["acked_per_s"] = records / std::chrono::duration<double>(acked - t0).count();
    state.counters["stored_per_s"] = records / std::chrono::duration<double>(drained - t0).count();
    state.counters["batches"] = double(pipe.buffer().stats().appended_batches.load());
    state.counters["inserts"] = double(pipe.sender().stats().inserts_committed.load());
    state.counters["failed"] = double(failed.load());
    state.counters["rss_MiB"] = double(rssBytes()) / (1 << 20);
    receiver.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    pipe.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(30));
    std::filesystem::remove_all(po.buffer.dir);
  }
}
BENCHMARK(BM_HttpAckedConcurrent)->ArgNames({"clients", "merge"})->Args({1, 0})->Args({1, 1})->Args({8, 1})
    ->Args({32, 1})->Unit(benchmark::kMillisecond)
    ->UseManualTime()->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
