// What the EventsReceiver tests share, whichever API server they talk to:
// the embedded store with kobs's schema (one per binary), a real Pipeline
// per test (disk buffer, sender), the receiver's lifecycle and SQL reads of
// what was stored.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "collect/k8s_events/events_receiver.h"
#include "collect_test_util.h"
#include "common/metrics.h"
#include "store/embedded/embedded_store.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::collect::k8s_events::test {

class ReceiverHarness : public ::testing::Test {
 protected:
  // The database: one per test binary, so two binaries never share tables.
  static void openStore(const std::string& db) {
    db_ = db;
    store_ = testing::openEmbeddedStore(db).release();
    store::schema::SchemaOptions so;
    so.database = db;
    schema_ = new store::schema::Schema(store::schema::SchemaManager::apply(*store_, so));
  }
  static void closeStore() {
    delete schema_;
    delete store_;
    schema_ = nullptr;
    store_ = nullptr;
  }

  void SetUp() override {
    store_->execute("TRUNCATE TABLE " + table());
    openPipeline();
  }
  void TearDown() override {
    stopReceiver();
    closePipeline();
  }

  static std::string table() { return db_ + ".otel_logs"; }

  void openPipeline() {
    pipeline::PipelineOptions po;
    po.buffer.dir = data_.path() / "buffer";
    po.buffer.fsync = pipeline::FsyncPolicy::kNever;
    po.batch.max_age = std::chrono::milliseconds(50);
    po.flush_tick = std::chrono::milliseconds(20);
    pipeline_ = std::make_unique<pipeline::Pipeline>(*store_, collect::test::logsTarget(*schema_), po);
    pipeline_->start();
  }
  void closePipeline() {
    if (pipeline_) pipeline_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
    pipeline_.reset();
  }

  // Fast timings for tests; `cluster` says which API server to talk to.
  ReceiverOptions baseOptions(std::function<k8s::ClusterConfig()> cluster) {
    ReceiverOptions o;
    o.state_dir = data_.path() / "k8s_events";
    o.cluster = std::move(cluster);
    o.max_age = std::chrono::hours(24);
    o.checkpoint_interval = std::chrono::milliseconds(50);
    o.tick = std::chrono::milliseconds(20);
    o.backoff_initial = std::chrono::milliseconds(20);
    o.backoff_max = std::chrono::milliseconds(200);
    o.resolver.api_calls_per_second = 0;
    o.max_line_bytes = 4u << 20;
    return o;
  }

  EventsReceiver& startReceiver(ReceiverOptions o, metrics::Registry* m = nullptr) {
    receiver_ = std::make_unique<EventsReceiver>(std::move(o), *pipeline_, *store_, m);
    receiver_->start();
    return *receiver_;
  }
  void stopReceiver() {
    if (receiver_) receiver_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    receiver_.reset();
  }

  uint64_t count(const std::string& where = "1") {
    auto r = collect::test::rows(*store_, "SELECT count() AS n FROM " + table() + " WHERE " + where);
    return r.at(0).at("n").get<uint64_t>();
  }
  bool waitRows(uint64_t n, const std::string& where = "1") {
    return collect::test::waitFor([&] { return count(where) >= n; });
  }

  // Every (event uid, resourceVersion) stored, with how many rows each has.
  std::map<std::pair<std::string, std::string>, int> storedPairs() {
    std::map<std::pair<std::string, std::string>, int> out;
    for (const auto& r : collect::test::rows(*store_, "SELECT LogAttributes['k8s.event.uid'] AS u, "
                                                      "JSONExtractString(Body,'object','metadata','resourceVersion') "
                                                      "AS rv FROM " + table()))
      ++out[{r["u"].get<std::string>(), r["rv"].get<std::string>()}];
    return out;
  }
  // Each stored (uid, version) exactly once, and `n` of them.
  void expectEachStoredOnce(size_t n) {
    auto pairs = storedPairs();
    EXPECT_EQ(pairs.size(), n);
    for (const auto& [k, times] : pairs) EXPECT_EQ(times, 1) << k.first << " " << k.second;
  }

  static inline std::string db_;
  static inline store::EmbeddedStore* store_ = nullptr;
  static inline store::schema::Schema* schema_ = nullptr;

  testing::TempDir data_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  std::unique_ptr<EventsReceiver> receiver_;
};

}  // namespace kobs::collect::k8s_events::test
