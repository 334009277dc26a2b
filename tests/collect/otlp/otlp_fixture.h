// A real OTLP receiver in front of a real pipeline and the embedded store
// (chDB) with the schema kobs creates, for the OTLP tests. Requests go over
// loopback HTTP with libcurl.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "collect/otlp/otlp_receiver.h"
#include "common/metrics.h"
#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "store/schema/schema_manager.h"
#include "support/embedded_store.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace kobs::collect::otlp::testing {

struct OtlpStack {
  std::unique_ptr<store::EmbeddedStore> store;
  store::schema::Schema schema;
  std::unique_ptr<kobs::testing::TempDir> buffer_dir;
  metrics::Registry registry;
  std::unique_ptr<pipeline::Pipeline> pipeline;
  std::unique_ptr<Receiver> receiver;
  std::string database;

  // `sink`: where the pipeline writes instead of the embedded store (which
  // still holds the schema the encoders follow).
  OtlpStack(const std::string& db, store::schema::Variant variant, ReceiverOptions ro = {},
            pipeline::PipelineOptions po = {}, store::IStore* sink = nullptr) : database(db) {
    store = kobs::testing::openEmbeddedStore(db);
    store::schema::SchemaOptions so;
    so.database = db;
    so.variant = variant;
    schema = store::schema::SchemaManager::apply(*store, so);
    buffer_dir = std::make_unique<kobs::testing::TempDir>();
    po.buffer.dir = buffer_dir->path();
    po.buffer.fsync = pipeline::FsyncPolicy::kNever;
    if (po.batch.max_age == pipeline::BatcherOptions{}.max_age) po.batch.max_age = std::chrono::milliseconds(50);
    po.flush_tick = std::chrono::milliseconds(20);
    pipeline = std::make_unique<pipeline::Pipeline>(sink ? *sink : *store, pipeline::targetsFromSchema(schema), po);
    pipeline->start();
    if (ro.http_listen == ":4318") ro.http_listen = "127.0.0.1:0";
    if (ro.grpc_listen == ":4317") ro.grpc_listen = "";
    receiver = std::make_unique<Receiver>(ro, *pipeline, registry);
    receiver->start();
  }
  ~OtlpStack() {
    receiver->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    pipeline->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  }

  std::string url(const std::string& path) const { return kobs::http::testing::url(receiver->httpPort(), path); }

  kobs::http::testing::CurlResult post(const std::string& path, const std::string& body,
                                       std::vector<std::string> headers) {
    kobs::http::testing::Client c;
    kobs::http::testing::CurlRequest r;
    r.method = "POST";
    r.body = body;
    r.headers = std::move(headers);
    r.timeout_ms = 60000;
    return c.fetch(url(path), r);
  }

  // Everything accepted so far is in the store afterwards.
  void drain() {
    pipeline->flush();
    ASSERT_TRUE(pipeline->buffer().waitDrained(std::chrono::steady_clock::now() + std::chrono::seconds(60)));
  }

  std::string table(store::schema::TableKind kind) const { return schema.table(kind).table; }

  std::vector<nlohmann::json> rows(const std::string& sql) {
    auto r = store->query(sql, "JSONEachRow");
    std::vector<nlohmann::json> out;
    size_t pos = 0;
    while (pos < r.data.size()) {
      auto nl = r.data.find('\n', pos);
      if (nl == std::string::npos) nl = r.data.size();
      if (nl > pos) out.push_back(nlohmann::json::parse(r.data.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    return out;
  }

  uint64_t count(store::schema::TableKind kind) {
    auto r = rows("SELECT count() AS n FROM `" + database + "`.`" + table(kind) + "`");
    const auto& n = r.at(0).at("n");
    return n.is_string() ? std::stoull(n.get<std::string>()) : n.get<uint64_t>();
  }

  uint64_t totalRows() {
    using K = store::schema::TableKind;
    uint64_t n = 0;
    for (auto k : {K::kLogs, K::kTraces, K::kMetricsGauge, K::kMetricsSum, K::kMetricsHistogram,
                   K::kMetricsExponentialHistogram, K::kMetricsSummary})
      n += count(k);
    return n;
  }

  // The value of one series in the Prometheus text, or 0 when absent.
  double metric(const std::string& series) {
    auto text = registry.renderPrometheus();
    auto pos = text.find("\n" + series + " ");
    if (pos == std::string::npos) return 0;
    return std::stod(text.substr(pos + series.size() + 2));
  }
};

}  // namespace kobs::collect::otlp::testing
