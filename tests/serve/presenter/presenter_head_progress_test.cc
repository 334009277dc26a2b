// The presenter head's first load logs its progress: percent, count of the
// total and an ETA at most every 5 s, then "done, N events". The head loads
// 80 events from a real embedded store in chunks of 8; each chunk's read is
// held 700 ms (a store under load: a delay injected around the real store,
// the one part that cannot be slowed on demand), so the load lasts about 7 s,
// longer than one progress interval. The lines are read from the
// "presenter" logger.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>


#include "common/logging.h"
#include "serve/events/event_feed.h"
#include "serve/events/event_reader.h"
#include "serve/events/events_fixture.h"
#include "serve/presenter/presenter_head.h"
#include "serve/presenter/presenter_reader.h"
#include "support/log_lines.h"
#include "support/progress_lines.h"

namespace kobs::serve::presenter {
namespace {

using namespace std::chrono_literals;

// The real store; the head's chunk reads (by row key) wait `delay` first.
class SlowChunkStore final : public store::IStore {
 public:
  SlowChunkStore(store::IStore& inner, std::chrono::milliseconds delay) : inner_(inner), delay_(delay) {}
  std::string_view kind() const override { return inner_.kind(); }
  const std::string& database() const override { return inner_.database(); }
  void execute(std::string_view sql, const store::Settings& s) override { inner_.execute(sql, s); }
  store::QueryResult query(std::string_view sql, std::string_view format, const store::Settings& s) override {
    if (sql.find("(composition_id, ts, row_key) IN (") != std::string_view::npos) std::this_thread::sleep_for(delay_);
    return inner_.query(sql, format, s);
  }
  store::InsertResult insert(const store::InsertRequest& r) override { return inner_.insert(r); }
  void ping() override { inner_.ping(); }

 private:
  store::IStore& inner_;
  std::chrono::milliseconds delay_;
};

class PresenterHeadProgressTest : public serve::testing::EventsStoreTest {};

TEST_F(PresenterHeadProgressTest, TheFirstLoadLogsPercentEtaAndDone) {
  constexpr int kEvents = 80;
  std::vector<serve::testing::TestEvent> events;
  for (int i = 0; i < kEvents; ++i) {
    serve::testing::TestEvent e;
    e.name = "web-" + std::to_string(i);
    e.uid = "uid-" + std::to_string(i);
    events.push_back(e);
  }
  insertEvents(events);

  auto sink = std::make_shared<kobs::testing::LogLines>();
  auto logger = logging::get("presenter");
  logger->sinks().push_back(sink);
  SlowChunkStore slow(*store_, 700ms);
  PresenterReader reader(slow, database_, "krateo_events", "default-cluster");
  events::EventReader event_reader(*store_, database_, "krateo_events");
  events::EventFeed feed(event_reader, events::FeedOptions{.poll_interval = 50ms});
  feed.start();
  PresenterHead head(reader, feed, HeadOptions{.capacity = 1000, .load_chunk = 8});
  head.start();
  for (int i = 0; i < 6000 && !head.ready(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(head.ready());
  head.stop();
  feed.stop();
  logger->sinks().pop_back();

  const auto seen = kobs::testing::checkProgressLines(
      sink->lines(), "loading the newest events into the presenter head", kEvents, "events");
  EXPECT_GE(seen.percent_lines, 1) << seen.all;
  EXPECT_TRUE(seen.done) << seen.all;
}

}  // namespace
}  // namespace kobs::serve::presenter
