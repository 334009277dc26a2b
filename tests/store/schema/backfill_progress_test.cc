// A new krateo_events table is filled from the k8s-event rows already in
// otel_logs (the old stack's history) day by day, and the copy logs its
// progress on the "schema" logger: percent, count of the total and an ETA at
// most every 5 s, then "done, N rows". The rows span 8 days of a real
// embedded store; each day's copy is held 900 ms by a delay injected around
// the real store (the one part that cannot be slowed on demand), so the copy
// lasts about 7 s, longer than one progress interval.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "common/logging.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"
#include "support/embedded_store.h"
#include "support/log_lines.h"
#include "support/progress_lines.h"

namespace kobs::store::schema {
namespace {

using namespace std::chrono_literals;

// The real store; each day's backfill statement waits `delay` first.
class SlowBackfillStore final : public IStore {
 public:
  SlowBackfillStore(IStore& inner, std::chrono::milliseconds delay) : inner_(inner), delay_(delay) {}
  std::string_view kind() const override { return inner_.kind(); }
  const std::string& database() const override { return inner_.database(); }
  void execute(std::string_view sql, const Settings& s) override {
    if (sql.starts_with("INSERT INTO") && sql.find("toDate(Timestamp) = ") != std::string_view::npos) {
      std::this_thread::sleep_for(delay_);
      ++day_copies;
    }
    inner_.execute(sql, s);
  }
  QueryResult query(std::string_view sql, std::string_view format, const Settings& s) override {
    return inner_.query(sql, format, s);
  }
  InsertResult insert(const InsertRequest& r) override { return inner_.insert(r); }
  void ping() override { inner_.ping(); }

  int day_copies = 0;

 private:
  IStore& inner_;
  std::chrono::milliseconds delay_;
};

TEST(SchemaBackfillProgressTest, CopyingExistingEventsLogsPercentEtaAndDone) {
  auto store = kobs::testing::openEmbeddedStore("default");
  const std::string db = "backfill_progress";
  SchemaOptions so;
  so.database = db;
  SchemaManager::apply(*store, so);  // otel_logs as the old stack left it, no events table yet

  // 8 days of history, 5 event rows a day, and one row that is not an event.
  constexpr int kDays = 8, kPerDay = 5, kRows = kDays * kPerDay;
  std::string values;
  for (int d = 1; d <= kDays; ++d)
    for (int i = 0; i < kPerDay; ++i)
      values += fmt::format("{}(now64(9) - INTERVAL {} DAY - INTERVAL {} SECOND, "
                            "'{{\"reason\":\"Old{}\",\"message\":\"day {} row {}\"}}', "
                            "map('telemetry.source', 'k8s-events'))",
                            values.empty() ? "" : ", ", d, i, d, d, i);
  store->execute(fmt::format("INSERT INTO `{}`.otel_logs (Timestamp, Body, ResourceAttributes) VALUES {}", db, values));
  store->execute(fmt::format("INSERT INTO `{}`.otel_logs (Timestamp, Body, ResourceAttributes) VALUES "
                             "(now64(9) - INTERVAL 2 DAY, 'a plain log line', map('telemetry.source', 'filelog'))",
                             db));

  auto sink = std::make_shared<kobs::testing::LogLines>();
  auto logger = logging::get("schema");
  logger->sinks().push_back(sink);
  SlowBackfillStore slow(*store, 900ms);
  so.krateo_events = true;
  SchemaManager::apply(slow, so);
  logger->sinks().pop_back();

  EXPECT_EQ(store->query(fmt::format("SELECT count() FROM `{}`.krateo_events", db), "TabSeparated").data,
            fmt::format("{}\n", kRows));
  // Day by day (a copy of the local day boundary may split one UTC day in two).
  EXPECT_GE(slow.day_copies, kDays);

  const auto seen = kobs::testing::checkProgressLines(
      sink->lines(), fmt::format("copying existing k8s events into {}.krateo_events", db), kRows, "rows");
  EXPECT_GE(seen.percent_lines, 1) << seen.all;
  // At most one line per 5 s: a 7-8 s copy logs one or two, not one per day.
  EXPECT_LE(seen.percent_lines, 2) << seen.all;
  EXPECT_TRUE(seen.done) << seen.all;

  // Applying again copies nothing twice and logs no copy.
  auto again = std::make_shared<kobs::testing::LogLines>();
  logger->sinks().push_back(again);
  SchemaManager::apply(*store, so);
  logger->sinks().pop_back();
  EXPECT_EQ(store->query(fmt::format("SELECT count() FROM `{}`.krateo_events", db), "TabSeparated").data,
            fmt::format("{}\n", kRows));
  for (const auto& line : again->lines()) EXPECT_EQ(line.find("copying existing"), std::string::npos) << line;
}

}  // namespace
}  // namespace kobs::store::schema
