// PresenterHead (the in-memory top of the presenter's /events) against a real
// embedded store: every page it helps answer must equal the store's answer,
// across the floor where memory hands over to the store, under each filter,
// and after live rows arrive through the EventFeed.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "serve/events/event_feed.h"
#include "serve/events/event_reader.h"
#include "serve/events/events_fixture.h"
#include "serve/presenter/presenter_head.h"
#include "serve/presenter/presenter_reader.h"

namespace kobs::serve::presenter {
namespace {

struct Row {
  std::string event_uid;
  int64_t ts_ns;
  std::string ns = "demo";
  std::string kind = "Pod";
  std::string name = "web-1";
  std::string message = "m";
  std::string labels_json;  // e.g. {"app":"web"}; empty: none
  std::string cluster = "c1";
};

class PresenterHeadTest : public serve::testing::EventsStoreTest {
 protected:
  // Straight into the events table (the head reads that table, not the view).
  void insert(const std::vector<Row>& rows) {
    std::string values;
    for (const auto& r : rows) {
      const std::string labels = r.labels_json.empty() ? "" : fmt::format(",\"labels\":{}", r.labels_json);
      const std::string raw = fmt::format(
          R"({{"metadata":{{"uid":"{}"}},"involvedObject":{{"kind":"{}","name":"{}","namespace":"{}"{}}},"reason":"Created","message":"{}"}})",
          r.event_uid, r.kind, r.name, r.ns, labels, r.message);
      if (!values.empty()) values += ", ";
      values += fmt::format("('comp-{}', now64(9), fromUnixTimestamp64Nano(toInt64({})), sipHash64({}, {}), {}, {}, {}, {}, "
                            "'Created', {}, 'Normal', {}, {})",
                            r.event_uid.size() % 3, r.ts_ns, r.ts_ns, store::quoteString(r.event_uid),
                            store::quoteString(r.event_uid), store::quoteString(r.ns), store::quoteString(r.kind),
                            store::quoteString(r.name), store::quoteString(r.message), store::quoteString(r.cluster),
                            store::quoteString(raw));
    }
    store_->execute(fmt::format("INSERT INTO `{}`.krateo_events (composition_id, ingest_time, ts, row_key, event_uid, "
                                "obj_namespace, obj_kind, obj_name, reason, message, type, cluster_name, raw) VALUES {}",
                                database_, values));
  }

  // A mixed population: several rows per event, namespaces, kinds, names,
  // labels, clusters, and ties on the timestamp.
  std::vector<Row> population(size_t events, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<Row> rows;
    const int64_t base = 1773568800000000000LL;
    for (size_t i = 0; i < events; ++i) {
      Row r;
      r.event_uid = fmt::format("ev-{:03}", i);
      r.ts_ns = base + int64_t(rng() % 50) * 1000000000LL;  // many share a second
      r.ns = rng() % 3 == 0 ? "ops" : "demo";
      r.kind = rng() % 4 == 0 ? "Deployment" : "Pod";
      r.name = fmt::format("Web-{}", rng() % 5);
      if (rng() % 4 == 0) r.labels_json = R"({"app":"web"})";
      r.cluster = rng() % 5 == 0 ? "c2" : "c1";
      rows.push_back(r);
      for (int extra = int(rng() % 3); extra > 0; --extra) {  // newer and older rows of the same event
        Row o = r;
        o.ts_ns = base + int64_t(rng() % 60) * 1000000000LL;
        o.message = fmt::format("again {}", extra);
        rows.push_back(o);
      }
    }
    return rows;
  }

  void startHead(size_t capacity) {
    reader_ = std::make_unique<PresenterReader>(*store_, database_, "krateo_events", "default-cluster");
    store_only_ = std::make_unique<PresenterReader>(*store_, database_, "krateo_events", "default-cluster");
    event_reader_ = std::make_unique<events::EventReader>(*store_, database_, "krateo_events");
    feed_ = std::make_unique<events::EventFeed>(*event_reader_, events::FeedOptions{.poll_interval = std::chrono::milliseconds(50)});
    feed_->start();
    head_ = std::make_unique<PresenterHead>(*reader_, *feed_, HeadOptions{.capacity = capacity, .load_chunk = 7});
    head_->start();
    for (int i = 0; i < 500 && !head_->ready(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(head_->ready());
    reader_->setHead(head_.get());
  }
  void TearDown() override {
    if (head_) head_->stop();
    if (feed_) feed_->stop();
  }

  // (created_ns, global_uid, message) of every item, page by page.
  std::vector<std::string> pages(const PresenterReader& r, ListQuery q, size_t* head_items = nullptr) {
    std::vector<std::string> out;
    for (int n = 0; n < 500; ++n) {
      ListStats st;
      auto page = r.list(q, &st);
      if (head_items) *head_items += st.head_items;
      for (const auto& it : page.items)
        out.push_back(fmt::format("{} {} {} {}", it.created_ns, it.global_uid, it.message, it.raw.size()));
      if (!page.next) return out;
      q.after = page.next;
    }
    ADD_FAILURE() << "more than 500 pages";
    return out;
  }

  std::unique_ptr<PresenterReader> reader_, store_only_;
  std::unique_ptr<events::EventReader> event_reader_;
  std::unique_ptr<events::EventFeed> feed_;
  std::unique_ptr<PresenterHead> head_;
};

std::vector<ListQuery> queries() {
  std::vector<ListQuery> qs;
  for (size_t limit : {1, 4, 50}) {
    ListQuery q;
    q.limit = limit;
    qs.push_back(q);
  }
  ListQuery q;
  q.limit = 3;
  q.ns = "ops";
  qs.push_back(q);
  q = {};
  q.limit = 3;
  q.kind = "Deployment";
  q.cluster = "c1";
  qs.push_back(q);
  q = {};
  q.limit = 2;
  q.name = "web-3";  // ILIKE: case-insensitive substring
  qs.push_back(q);
  q = {};
  q.limit = 5;
  q.name = "w_b-%1";
  qs.push_back(q);
  q = {};
  q.limit = 3;
  q.labels = {{"app", "web"}};
  qs.push_back(q);
  q = {};
  q.limit = 4;
  q.since_ns = 1773568800000000000LL + 30 * 1000000000LL;
  qs.push_back(q);
  q = {};
  q.limit = 4;
  q.allowed_namespaces = std::vector<std::string>{"ops"};
  qs.push_back(q);
  return qs;
}

TEST_F(PresenterHeadTest, PagesEqualTheStoreAcrossTheFloorUnderEveryFilter) {
  insert(population(60, 7));
  // 60 events, 17 kept: every listing crosses from memory into the store.
  startHead(17);
  EXPECT_EQ(head_->size(), 17u);
  for (const auto& q : queries()) {
    size_t from_head = 0;
    const auto want = pages(*store_only_, q);
    const auto got = pages(*reader_, q, &from_head);
    EXPECT_EQ(got, want) << "limit " << q.limit << " ns " << q.ns.value_or("-") << " name " << q.name.value_or("-");
    EXPECT_FALSE(want.empty());
  }
  // The unfiltered listing: all 60 events once each, the first pages from memory.
  ListQuery all;
  all.limit = 4;
  size_t from_head = 0;
  const auto got = pages(*reader_, all, &from_head);
  EXPECT_EQ(got.size(), 60u);
  EXPECT_EQ(from_head, 17u);  // every item the head keeps, once
}

TEST_F(PresenterHeadTest, EverythingFitsAndNoStoreQueryIsNeeded) {
  insert(population(30, 11));
  startHead(1000);
  EXPECT_EQ(head_->size(), 30u);
  ListQuery q;
  q.limit = 10;
  ListStats st;
  auto page = reader_->list(q, &st);
  EXPECT_EQ(st.head_items, 10u);
  EXPECT_EQ(st.candidate_queries, 0);
  EXPECT_EQ(pages(*reader_, q), pages(*store_only_, q));
}

TEST_F(PresenterHeadTest, LiveRowsReplaceOlderOnesAndEnterAboveTheFloor) {
  const auto pop = population(40, 3);
  insert(pop);
  startHead(12);
  auto clusterOf = [&](const std::string& uid) {
    return std::find_if(pop.begin(), pop.end(), [&](const Row& r) { return r.event_uid == uid; })->cluster;
  };
  const int64_t later = 1773568800000000000LL + 3600LL * 1000000000LL;
  // A newer row of an event in memory, of an event below the floor, and a new event.
  insert({{.event_uid = "ev-000", .ts_ns = later, .message = "updated", .cluster = clusterOf("ev-000")},
          {.event_uid = "ev-039", .ts_ns = later + 1, .message = "revived", .cluster = clusterOf("ev-039")},
          {.event_uid = "ev-new", .ts_ns = later + 2, .message = "fresh"}});
  feed_->wake();
  // The head applies what the feed publishes; wait until it has.
  for (int i = 0; i < 300 && head_->stats().applied.load() < 12 + 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(head_->sync(std::chrono::seconds(5)));
  ListQuery q;
  q.limit = 3;
  auto first = reader_->list(q);
  ASSERT_EQ(first.items.size(), 3u);
  EXPECT_EQ(first.items[0].message, "fresh");
  EXPECT_EQ(first.items[1].message, "revived");
  EXPECT_EQ(first.items[2].message, "updated");
  EXPECT_FALSE(first.items[0].raw.empty());
  q.limit = 5;
  const auto all = pages(*reader_, q);
  EXPECT_EQ(all, pages(*store_only_, q));
  EXPECT_EQ(all.size(), 41u) << ::testing::PrintToString(all);  // each event once, at its newest row
  EXPECT_LE(head_->size(), 12u);
}

TEST(IlikeMatch, FollowsSqlIlike) {
  EXPECT_TRUE(ilikeMatch("%web%", "my-WEB-1"));
  EXPECT_TRUE(ilikeMatch("w_b-%1", "Web-11"));
  EXPECT_FALSE(ilikeMatch("w_b-%1", "Web-12"));
  EXPECT_TRUE(ilikeMatch("%", ""));
  EXPECT_FALSE(ilikeMatch("_", ""));
  EXPECT_TRUE(ilikeMatch("a\\%b", "a%b"));
  EXPECT_FALSE(ilikeMatch("a\\%b", "axb"));
  EXPECT_TRUE(ilikeMatch("a\\_b", "a_b"));
  EXPECT_FALSE(ilikeMatch("a\\_b", "axb"));
  EXPECT_TRUE(ilikeMatch("%a%a%a%b", "aaaaaaaaaaaaaaaaaaaab"));
  EXPECT_FALSE(ilikeMatch("%a%a%a%b", "aaaaaaaaaaaaaaaaaaaaa"));
}

}  // namespace
}  // namespace kobs::serve::presenter
