// /events/{id} from memory (RecentEvents) against the store path: the same
// bytes and headers for the same page, pages the memory cannot vouch for left
// to the store, and the bounds (rows per composition, bytes, idle).
#include <gtest/gtest.h>

#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/events/events_api.h"
#include "http/http_server.h"
#include "support/http_client.h"
#include "events_fixture.h"

namespace kobs::serve::testing {
namespace {

using http::testing::Client;
using namespace std::chrono_literals;

class RecentEventsTest : public EventsStoreTest {
 protected:
  void TearDown() override {
    for (auto& s : servers_) s->stop();
    apis_.clear();
    if (feed_) feed_->stop();
  }
  // The feed starts at the newest stored row: rows inserted before are history.
  void startFeed() {
    reader_ = std::make_unique<events::EventReader>(*store_, database_, "krateo_events");
    feed_ = std::make_unique<events::EventFeed>(*reader_, events::FeedOptions{.poll_interval = 50ms});
    feed_->start();
  }
  // An API on its own listener; rows 0: the store path alone.
  uint16_t startApi(events::RecentOptions recent) {
    events::EventsApiOptions o;
    o.recent = recent;
    apis_.push_back(std::make_unique<events::EventsApi>(o, nullptr));
    http::Router router;
    apis_.back()->addRoutes(router);
    apis_.back()->attach(*reader_, *feed_);
    http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    servers_.push_back(std::make_unique<http::Server>(so, std::move(router)));
    servers_.back()->start();
    return servers_.back()->port();
  }
  // Waits until the feed has published everything stored (the memory side has it).
  void settle(const events::RecentEvents& recent, const std::string& composition) {
    const auto max = reader_->maxCursor();
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (feed_->highWater() < max && std::chrono::steady_clock::now() < deadline) {
      feed_->wake();
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_GE(feed_->highWater(), max);
    ASSERT_TRUE(recent.waitLoaded(composition, 60s));
  }
  struct Answer {
    long status;
    std::string body, next;
  };
  Answer get(uint16_t port, const std::string& path) {
    auto r = client_.fetch(http::testing::url(port, path));
    std::string next;
    for (const auto& [k, v] : r.headers)
      if (k == "x-kobs-next-before" || k == "X-Kobs-Next-Before") next = v;
    return {r.status, r.body, next};
  }
  // The same request on both APIs: same status, body and next-page header.
  Answer expectSame(uint16_t memory, uint16_t store, const std::string& path) {
    auto a = get(memory, path), b = get(store, path);
    EXPECT_EQ(a.status, 200) << path;
    EXPECT_EQ(a.status, b.status) << path;
    EXPECT_EQ(a.body, b.body) << path;
    EXPECT_EQ(a.next, b.next) << path;
    return a;
  }
  const events::RecentEvents& recentOf(size_t api) { return *apis_.at(api)->recent(); }

  std::unique_ptr<events::EventReader> reader_;
  std::unique_ptr<events::EventFeed> feed_;
  std::vector<std::unique_ptr<events::EventsApi>> apis_;
  std::unique_ptr<store::IStore> readonly_;  // the :8123 endpoints' session
  std::vector<std::unique_ptr<chcompat::ClickHouseEndpoint>> endpoints_;
  std::vector<std::unique_ptr<http::Server>> servers_;
  Client client_;
};

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST_F(RecentEventsTest, ActiveCompositionPagesComeFromMemoryWithTheStoresBytes) {
  // History from before the feed started (never published), then new events
  // in several inserts, some with timestamps older than stored ones, two with
  // the same timestamp, and characters the JSON escapes.
  const int64_t base = nowNs() - 3600'000'000'000;
  std::vector<TestEvent> old;
  for (int i = 0; i < 30; ++i) {
    TestEvent e{.composition_id = "c1", .message = fmt::format("old {}", i), .timestamp_ns = base + i * 1'000'000'000LL};
    old.push_back(e);
  }
  old.push_back({.composition_id = "c2", .message = "other composition", .timestamp_ns = base});
  insertEvents(old);
  startFeed();
  const uint16_t memory = startApi({.rows = 200});
  const uint16_t store = startApi({.rows = 0});

  insertEvents({{.composition_id = "c1", .message = "new <a> & \"b\"", .timestamp_ns = base + 100'000'000'000},
                {.composition_id = "c1", .reason = "", .message = "no reason: never listed"},
                {.composition_id = "c1", .message = "same ts 1", .timestamp_ns = base + 200'000'000'000},
                {.composition_id = "c1", .message = "same ts 2", .timestamp_ns = base + 200'000'000'000}});
  insertEvents({{.composition_id = "c1", .message = "between old ones", .timestamp_ns = base + 5'500'000'000},
                {.composition_id = "c1", .type = "Warning", .event_time = "2026-03-15T10:00:01.123456Z"}});
  settle(recentOf(0), "c1");

  const uint64_t hits0 = recentOf(0).stats().hits;
  auto first = expectSame(memory, store, "/events/c1");
  EXPECT_NE(first.body.find("between old ones"), std::string::npos);
  EXPECT_NE(first.body.find("old 0"), std::string::npos);
  EXPECT_EQ(first.body.find("no reason"), std::string::npos);
  expectSame(memory, store, "/events?composition_id=c1");
  // Paging by the next-page header, down to the end.
  auto page = expectSame(memory, store, "/events/c1?limit=4");
  int pages = 1;
  while (!page.next.empty()) {
    page = expectSame(memory, store, "/events/c1?limit=4&before=" + page.next);
    ASSERT_LT(++pages, 20);
  }
  EXPECT_EQ(pages, 9);  // 35 rows with a reason, 4 a page: the 9th holds the last 3
  EXPECT_NE(page.body.find("old 0"), std::string::npos);
  EXPECT_GE(recentOf(0).stats().hits - hits0, 11u);  // every page above, from memory
  // A composition without a published event stays with the store.
  const uint64_t misses0 = recentOf(0).stats().misses;
  auto cold = expectSame(memory, store, "/events/c2");
  EXPECT_NE(cold.body.find("other composition"), std::string::npos);
  EXPECT_EQ(recentOf(0).stats().misses, misses0 + 1);
}

// The same answer's part that is data (meta, data, rows), up to where
// statistics start (they describe the read, which differs).
std::string dataPart(const std::string& body) {
  const auto at = body.find("\"rows\":");
  EXPECT_NE(at, std::string::npos) << body;
  const auto end = body.find('\n', at);
  return body.substr(0, end);
}

TEST_F(RecentEventsTest, ClickHouseEndpointEventsOfActiveCompositionsComeFromMemory) {
  readonly_ = store_->openReadOnly(2, 2);
  const int64_t base = nowNs() - 3600'000'000'000;
  insertEvents({{.composition_id = "c1", .message = "old", .timestamp_ns = base},
                {.composition_id = "c2", .message = "cold", .timestamp_ns = base}});
  startFeed();
  startApi({.rows = 200});
  // Two endpoints on the same read-only store, one with the API's memory.
  std::vector<uint16_t> ports;
  for (const events::RecentEvents* recent : {apis_.back()->recent(), static_cast<const events::RecentEvents*>(nullptr)}) {
    endpoints_.push_back(std::make_unique<chcompat::ClickHouseEndpoint>(
        *readonly_, chcompat::EndpointOptions{.database = database_, .recent = recent}));
    http::Router router;
    endpoints_.back()->addRoutes(router);
    http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    servers_.push_back(std::make_unique<http::Server>(so, std::move(router)));
    servers_.back()->start();
    ports.push_back(servers_.back()->port());
  }
  // Every character class ClickHouse's JSON writer treats apart.
  const std::string odd = "a/b \"q\" \\ \t\n\r\b\f \x01\x1f\x7f <>& é 日本 \xe2\x80\xa8\xe2\x80\xa9 end";
  insertEvents({{.composition_id = "c1", .message = odd, .timestamp_ns = base + 100'000'000'000},
                {.composition_id = "c1", .reason = "", .message = "no reason: never listed"},
                {.composition_id = "c1", .type = "Warning", .name = "x/y", .event_time = "2026-03-15T10:00:01.123456Z"}});
  std::vector<TestEvent> more;
  for (int i = 0; i < 60; ++i)
    more.push_back({.composition_id = "c1", .message = fmt::format("n{}", i), .timestamp_ns = base + (10 + i) * 1'000'000'000LL});
  insertEvents(more);
  settle(recentOf(0), "c1");

  const uint64_t hits0 = recentOf(0).stats().hits;
  for (const std::string path : {"/events?composition_id=c1&limit=50", "/events/c1", "/events?composition_id=c1&limit=3",
                                 "/events?composition_id=c1&limit=0", "/events?composition_id=c2&limit=50"}) {
    auto a = client_.fetch(http::testing::url(ports[0], path));
    auto b = client_.fetch(http::testing::url(ports[1], path));
    ASSERT_EQ(a.status, 200) << path << a.body;
    ASSERT_EQ(b.status, 200) << path << b.body;
    EXPECT_EQ(dataPart(a.body), dataPart(b.body)) << path;
    const auto ja = nlohmann::json::parse(a.body), jb = nlohmann::json::parse(b.body);  // both whole JSON
    EXPECT_EQ(ja["data"], jb["data"]) << path;
    EXPECT_EQ(ja["rows"], jb["rows"]) << path;
  }
  // The four pages of c1 from memory, c2 (never published) from the store.
  EXPECT_EQ(recentOf(0).stats().hits - hits0, 4u);
  // The odd message is on the first page (the second newest): compared above byte for byte.
  auto odd_page = nlohmann::json::parse(client_.fetch(http::testing::url(ports[0], "/events/c1")).body);
  bool found = false;
  for (const auto& row : odd_page["data"]) found |= row["message"] == odd;
  EXPECT_TRUE(found);
}

TEST_F(RecentEventsTest, PagesBelowWhatIsHeldGoToTheStore) {
  const int64_t base = nowNs() - 3600'000'000'000;
  std::vector<TestEvent> old;
  for (int i = 0; i < 12; ++i)
    old.push_back({.composition_id = "c1", .message = fmt::format("old {}", i), .timestamp_ns = base + i * 1'000'000'000LL});
  insertEvents(old);
  startFeed();
  const uint16_t memory = startApi({.rows = 5});
  const uint16_t store = startApi({.rows = 0});
  for (int i = 0; i < 3; ++i)
    insertEvent({.composition_id = "c1", .message = fmt::format("new {}", i), .timestamp_ns = base + (100 + i) * 1'000'000'000LL});
  settle(recentOf(0), "c1");

  const auto& recent = recentOf(0);
  uint64_t hits = recent.stats().hits, misses = recent.stats().misses;
  // The load read six rows: the lowest is the floor, the five above it serve.
  expectSame(memory, store, "/events/c1?limit=5");
  EXPECT_EQ(recent.stats().hits, hits + 1);
  auto deep = expectSame(memory, store, "/events/c1?limit=6");
  EXPECT_EQ(recent.stats().misses, misses + 1);
  EXPECT_NE(deep.body.find("old 10"), std::string::npos);
  auto all = expectSame(memory, store, "/events/c1");  // 15 rows: below the floor, from the store
  EXPECT_NE(all.body.find("old 0"), std::string::npos);
  EXPECT_EQ(recent.stats().misses, misses + 2);
}

TEST_F(RecentEventsTest, ByteBudgetKeepsTheMostRecentlyActive) {
  startFeed();
  const uint16_t memory = startApi({.rows = 50, .max_bytes = 1});  // room for one composition only
  const uint16_t store = startApi({.rows = 0});
  insertEvent({.composition_id = "a"});
  settle(recentOf(0), "a");
  insertEvent({.composition_id = "b"});
  settle(recentOf(0), "b");
  EXPECT_EQ(recentOf(0).compositions(), 1u);
  EXPECT_GE(recentOf(0).stats().dropped, 1u);
  EXPECT_GT(recentOf(0).bytes(), 0u);
  // Both still answer, with the same bytes, "a" from the store.
  expectSame(memory, store, "/events/a");
  expectSame(memory, store, "/events/b");
}

TEST_F(RecentEventsTest, IdleCompositionsLeave) {
  startFeed();
  const uint16_t memory = startApi({.rows = 50, .idle = 1ms});
  insertEvent({.composition_id = "a"});
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  // Gone on the next batch (or the loader's sweep) once idle.
  while (recentOf(0).stats().loads == 0 && std::chrono::steady_clock::now() < deadline) {
    feed_->wake();
    std::this_thread::sleep_for(10ms);
  }
  insertEvent({.composition_id = "b"});
  while (recentOf(0).stats().dropped == 0 && std::chrono::steady_clock::now() < deadline) {
    feed_->wake();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GE(recentOf(0).stats().dropped, 1u);
  EXPECT_EQ(get(memory, "/events/a").status, 200);
}

}  // namespace
}  // namespace kobs::serve::testing
