// Shared fixture of the serving tests: one embedded store per binary, a fresh
// database (OpenTelemetry tables + the events table) per test, and k8s-event
// rows written into otel_logs the way the events receiver writes them.
#pragma once

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"
#include "support/temp_dir.h"

namespace kobs::serve::testing {

struct TestEvent {
  std::string composition_id;  // empty: none
  std::string reason = "Created";
  std::string message = "created pod";
  std::string type = "Normal";
  std::string kind = "Pod";
  std::string name = "web-1";
  std::string ns = "demo";
  std::string uid = "uid-1";
  std::string api_version = "v1";
  std::string component = "kubelet";
  std::string event_time;        // "" -> null in the Event
  std::string last_timestamp = "2026-03-15T10:00:00Z";
  int64_t timestamp_ns = 0;      // 0: now
};

class EventsStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new kobs::testing::TempDir();
    store::EmbeddedOptions o;
    o.data_dir = dir_->str();
    o.library_path = kobs::testing::chdbLibraryPath();
    o.database = "default";
    o.reader_connections = 4;
    store_ = new store::EmbeddedStore(o);
  }
  static void TearDownTestSuite() {
    delete store_;
    delete dir_;
  }

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    database_ = fmt::format("t{}_{}", counter_++, info->name());
    for (auto& c : database_)
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    store::schema::SchemaOptions so;
    so.database = database_;
    so.krateo_events = true;
    store::schema::SchemaManager::apply(*store_, so);
  }

  static nlohmann::json bodyOf(const TestEvent& e, int seq) {
    nlohmann::json ev = {
        {"metadata", {{"name", e.name + "." + std::to_string(seq)}, {"namespace", e.ns},
                      {"uid", "ev-" + std::to_string(seq)}, {"resourceVersion", std::to_string(1000 + seq)}}},
        {"involvedObject", {{"apiVersion", e.api_version}, {"kind", e.kind}, {"name", e.name}, {"namespace", e.ns},
                            {"uid", e.uid}}},
        {"reason", e.reason},
        {"message", e.message},
        {"type", e.type},
        {"source", {{"component", e.component}}},
        {"lastTimestamp", e.last_timestamp},
        {"eventTime", e.event_time.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.event_time)},
    };
    return {{"type", "ADDED"}, {"object", ev}};
  }

  static std::string isoNanos(int64_t ns) {
    const std::time_t secs = ns / 1000000000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, ns % 1000000000);
  }

  // One INSERT (one block) holding these events.
  void insertEvents(const std::vector<TestEvent>& events) { insertEventsInto(database_, events); }
  static void insertEventsInto(const std::string& database, const std::vector<TestEvent>& events) {
    std::string rows;
    for (const auto& e : events) {
      const int seq = seq_++;
      const int64_t ts = e.timestamp_ns ? e.timestamp_ns
                                        : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::system_clock::now().time_since_epoch()).count() + seq;
      nlohmann::json log_attrs = nlohmann::json::object();
      if (!e.composition_id.empty()) log_attrs["krateo.io/composition-id"] = e.composition_id;
      nlohmann::json row = {
          {"Timestamp", isoNanos(ts)},
          {"SeverityText", e.type},
          {"Body", bodyOf(e, seq).dump()},
          {"ResourceAttributes", {{"telemetry.source", "k8s-events"}}},
          {"LogAttributes", log_attrs},
      };
      rows += row.dump() + "\n";
    }
    store_->execute(fmt::format("INSERT INTO `{}`.otel_logs SETTINGS date_time_input_format='best_effort' FORMAT JSONEachRow\n{}",
                                database, rows));
  }
  void insertEvent(const TestEvent& e) { insertEvents({e}); }

  static inline kobs::testing::TempDir* dir_ = nullptr;
  static inline store::EmbeddedStore* store_ = nullptr;
  static inline int counter_ = 0;
  static inline std::atomic<int> seq_{0};
  std::string database_;
};

}  // namespace kobs::serve::testing
