// Inserts into the embedded store directly and through the central write path
// of the ClickHouse-compatible endpoint (serve/chcompat/write_path.h), the
// way node agents send them (kobs's ClickHouse store: RowBinary, gzip above
// 64 KiB, a deduplication token per batch), from 1 and from 4 agents at once.
// Rows are otel_logs rows (Timestamp, ServiceName, Body of ~200 bytes, three
// LogAttributes). Prints rows/s per way; the endpoint runs in this process.
// Usage: bench_chcompat_write [batches=40] [rows_per_batch=10000]
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include "common/logging.h"
#include "http/http_server.h"
#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/chcompat/write_path.h"
#include "store/clickhouse/http_store.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

using namespace kobs;
using Clock = std::chrono::steady_clock;

namespace {

void putString(std::string& b, std::string_view s) {
  uint64_t n = s.size();
  do {
    uint8_t byte = n & 0x7f;
    n >>= 7;
    if (n) byte |= 0x80;
    b.push_back(static_cast<char>(byte));
  } while (n);
  b += s;
}

std::string batch(int first, int rows) {
  std::string b;
  const std::string pad(170, 'x');
  for (int i = first; i < first + rows; ++i) {
    int64_t ts = 1764547200000000000LL + i;
    b.append(reinterpret_cast<const char*>(&ts), 8);
    putString(b, "checkout");
    putString(b, fmt::format("GET /api/cart/{} 200 {}", i, pad));
    b.push_back(3);
    for (auto [k, v] : {std::pair{"k8s.pod.name", fmt::format("pod-{}", i % 50)},
                        std::pair{"log.iostream", std::string("stdout")},
                        std::pair{"seq", std::to_string(i)}}) {
      putString(b, k);
      putString(b, v);
    }
  }
  return b;
}

store::InsertRequest request(const std::string& body, int rows, std::string token) {
  store::InsertRequest r;
  r.table = "otel_logs";
  r.columns = {"Timestamp", "ServiceName", "Body", "LogAttributes"};
  r.body = body;
  r.rows = uint64_t(rows);
  r.deduplication_token = std::move(token);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int batches = argc > 1 ? std::stoi(argv[1]) : 40;
  const int rows = argc > 2 ? std::stoi(argv[2]) : 10000;
  logging::init({.level = "warn"});
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("kobs-bench-chwrite-{}", ::getpid());
  store::EmbeddedOptions eo;
  eo.data_dir = dir.string();
  auto store = std::make_unique<store::EmbeddedStore>(eo);
  store::schema::SchemaOptions so;
  store::schema::SchemaManager::apply(*store, so);
  auto readonly = store->openReadOnly(2, 2);
  std::ofstream(dir / "writers") << "agent:pw\n";
  metrics::Registry registry;
  serve::chcompat::WritePathOptions wo;
  wo.tables = {"otel_logs"};
  wo.users_file = (dir / "writers").string();
  wo.metrics = &registry;
  serve::chcompat::WritePath writer(*store, *readonly, wo);
  writer.start();
  serve::chcompat::EndpointOptions opts;
  opts.metrics = &registry;
  opts.writer = &writer;
  serve::chcompat::ClickHouseEndpoint endpoint(*readonly, opts);
  http::Router router;
  endpoint.addRoutes(router);
  http::ServerOptions hso;
  hso.listen = "127.0.0.1:0";
  hso.body_limit = wo.max_body_bytes;
  http::Server server(hso, std::move(router));
  server.start();

  std::vector<std::string> bodies;
  for (int b = 0; b < 8; ++b) bodies.push_back(batch(b * rows, rows));
  const double mib = double(bodies[0].size()) / (1 << 20);
  int token = 0;

  auto run = [&](const std::string& way, int agents, auto&& insert_one) {
    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int a = 0; a < agents; ++a)
      threads.emplace_back([&, a] {
        for (int b = a; b < batches; b += agents) insert_one(a, b);
      });
    for (auto& t : threads) t.join();
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::cout << fmt::format("| {:<38} | {:>6} | {:>10.0f} | {:>8.1f} |\n", way, agents, batches * rows / s,
                             batches * mib / s);
  };
  std::cout << fmt::format("{} batches of {} otel_logs rows ({:.2f} MiB RowBinary each)\n\n", batches, rows, mib);
  std::cout << "| way                                    | agents |     rows/s |    MiB/s |\n"
               "|----------------------------------------|--------|------------|----------|\n";
  run("embedded store, direct insert", 1, [&](int, int b) {
    store->insert(request(bodies[b % 8], rows, fmt::format("direct-{}", token++)));
  });
  for (int agents : {1, 4}) {
    std::vector<std::unique_ptr<store::HttpStore>> clients;
    for (int a = 0; a < agents; ++a) {
      store::HttpStoreOptions ho;
      ho.url = fmt::format("http://127.0.0.1:{}", server.port());
      ho.user = "agent";
      ho.password = "pw";
      clients.push_back(std::make_unique<store::HttpStore>(ho));
    }
    std::atomic<int> next{0};
    run("through :8123 write path (gzip, token)", agents, [&](int a, int b) {
      clients[size_t(a)]->insert(request(bodies[b % 8], rows, fmt::format("agent{}-{}-{}", agents, a, next++)));
    });
  }
  server.stop();
  writer.stop();
  readonly.reset();
  store.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
