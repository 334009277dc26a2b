// A real pipeline over the embedded store (chDB) with kobs's schema, for the
// metric components' tests: points go through the real encoders into the
// real otel_metrics_* tables.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "collect/collect_test_util.h"
#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "store/schema/schema_manager.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::collect::test {

struct MetricsStack {
  std::unique_ptr<store::EmbeddedStore> store;
  store::schema::Schema schema;
  std::unique_ptr<kobs::testing::TempDir> buffer_dir;
  std::unique_ptr<pipeline::Pipeline> pipeline;

  explicit MetricsStack(const std::string& db) {
    store = kobs::testing::openEmbeddedStore(db);
    store::schema::SchemaOptions so;
    so.database = db;
    schema = store::schema::SchemaManager::apply(*store, so);
    buffer_dir = std::make_unique<kobs::testing::TempDir>();
    pipeline::PipelineOptions po;
    po.buffer.dir = buffer_dir->path();
    po.buffer.fsync = pipeline::FsyncPolicy::kNever;
    po.batch.max_age = std::chrono::milliseconds(50);
    po.flush_tick = std::chrono::milliseconds(20);
    pipeline = std::make_unique<pipeline::Pipeline>(*store, pipeline::targetsFromSchema(schema), po);
    pipeline->start();
  }
  ~MetricsStack() { pipeline->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10)); }

  void drain() {
    pipeline->flush();
    ASSERT_TRUE(pipeline->buffer().waitDrained(std::chrono::steady_clock::now() + std::chrono::seconds(60)));
  }
  std::string table(store::schema::TableKind kind) const { return schema.table(kind).table; }
  std::vector<nlohmann::json> rows(const std::string& sql) { return test::rows(*store, sql); }
};

}  // namespace kobs::collect::test
