#include <gtest/gtest.h>

#include "serve/events/events_api.h"
#include "http/http_server.h"
#include "support/http_client.h"
#include "events_fixture.h"

namespace kobs::serve::testing {
namespace {

using http::testing::Client;
using http::testing::CurlRequest;
using http::testing::url;

class EventsApiTest : public EventsStoreTest {
 protected:
  void SetUp() override {
    EventsStoreTest::SetUp();
    reader_ = std::make_unique<events::EventReader>(*store_, database_, "krateo_events");
    feed_ = std::make_unique<events::EventFeed>(*reader_, events::FeedOptions{});
    feed_->start();
  }
  void TearDown() override {
    if (server_) server_->stop();
    api_.reset();
    feed_->stop();
  }
  void startServer(events::EventsApiOptions options = {}, const auth::Authenticator* auth = nullptr,
                   bool attach = true) {
    api_ = std::make_unique<events::EventsApi>(options, auth);
    http::Router router;
    api_->addRoutes(router);
    if (attach) api_->attach(*reader_, *feed_);
    http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    server_ = std::make_unique<http::Server>(so, std::move(router));
    server_->start();
  }
  std::string u(const std::string& path) { return url(server_->port(), path); }

  std::unique_ptr<events::EventReader> reader_;
  std::unique_ptr<events::EventFeed> feed_;
  std::unique_ptr<events::EventsApi> api_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(EventsApiTest, HealthIsOk) {
  startServer();
  Client c;
  auto r = c.fetch(u("/health"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
}

TEST_F(EventsApiTest, EmptyListIsBracketsAndNewlineWithCorsAndJsonType) {
  startServer();
  Client c;
  auto r = c.fetch(u("/events"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "[]\n");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
}

TEST_F(EventsApiTest, ListsExactJsonNewestFirstAndFiltersByComposition) {
  insertEvent({.composition_id = "c1", .reason = "First", .message = "a<b", .timestamp_ns = 1773572400000000000});
  insertEvent({.composition_id = "c2", .reason = "Second", .kind = "Deployment", .api_version = "apps/v1",
               .event_time = "2026-03-15T11:00:00.000001Z", .timestamp_ns = 1773572401000000000});
  startServer();
  Client c;
  const std::string first =
      R"({"metadata":{"name":"web-1","namespace":"demo","uid":"uid-1","creationTimestamp":"2026-03-15T10:00:00Z"},)"
      R"("involvedObject":{"apiVersion":"v1","kind":"Pod","name":"web-1","namespace":"demo","uid":"uid-1"},)"
      R"("reason":"First","message":"a\u003cb","type":"Normal","firstTimestamp":"2026-03-15T10:00:00Z",)"
      R"("lastTimestamp":"2026-03-15T10:00:00Z","eventTime":"2026-03-15T10:00:00Z","source":{"component":"kubelet"}})";
  const std::string second =
      R"({"metadata":{"name":"web-1","namespace":"demo","uid":"uid-1","creationTimestamp":"2026-03-15T11:00:00.000001Z"},)"
      R"("involvedObject":{"apiVersion":"apps/v1","kind":"Deployment","name":"web-1","namespace":"demo","uid":"uid-1"},)"
      R"("reason":"Second","message":"created pod","type":"Normal","firstTimestamp":"2026-03-15T11:00:00.000001Z",)"
      R"("lastTimestamp":"2026-03-15T11:00:00.000001Z","eventTime":"2026-03-15T11:00:00.000001Z","source":{"component":"kubelet"}})";
  EXPECT_EQ(c.fetch(u("/events")).body, "[" + second + "," + first + "]\n");
  EXPECT_EQ(c.fetch(u("/events?composition_id=c1")).body, "[" + first + "]\n");
  EXPECT_EQ(c.fetch(u("/events/c2")).body, "[" + second + "]\n");
  EXPECT_EQ(c.fetch(u("/events/c2?limit=1")).body, "[" + second + "]\n");
  auto page = c.fetch(u("/events?limit=1"));
  EXPECT_EQ(page.body, "[" + second + "]\n");
  const std::string next = page.header("x-kobs-next-before");
  ASSERT_FALSE(next.empty());
  EXPECT_EQ(c.fetch(u("/events?limit=1&before=" + next)).body, "[" + first + "]\n");
  EXPECT_EQ(c.fetch(u("/events?limit=zero")).status, 400);
  EXPECT_EQ(c.fetch(u("/events/nobody")).body, "[]\n");
}

TEST_F(EventsApiTest, AtMost200ByDefault) {
  std::vector<TestEvent> evs(250, TestEvent{.composition_id = "c"});
  insertEvents(evs);
  startServer();
  Client c;
  auto body = c.fetch(u("/events")).body;
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 1);
  EXPECT_EQ(nlohmann::json::parse(body).size(), 200u);
}

TEST_F(EventsApiTest, StoreFailureIs500InternalError) {
  startServer();
  store_->execute(fmt::format("DROP TABLE `{}`.krateo_events", database_));
  Client c;
  auto r = c.fetch(u("/events"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "internal error\n");
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
}

TEST_F(EventsApiTest, BeforeTheStoreAttachesRestIs503AndSseAsksToRetry) {
  startServer({}, nullptr, false);
  Client c;
  EXPECT_EQ(c.fetch(u("/events")).status, 503);
  // EventSource stops for good on a non-200 answer: SSE ends at once with a retry hint instead.
  auto sse = c.fetch(u("/notifications"));
  EXPECT_EQ(sse.status, 200);
  EXPECT_EQ(sse.header("content-type"), "text/event-stream");
  EXPECT_EQ(sse.body, ": store not ready\nretry: 1000\n\n");
  EXPECT_EQ(c.fetch(u("/health")).status, 200);
}

TEST_F(EventsApiTest, CorsPreflightAndConfiguredOrigin) {
  events::EventsApiOptions o;
  o.allow_origin = "https://krateo.example";
  startServer(o);
  Client c;
  CurlRequest pre{.method = "OPTIONS", .headers = {"Origin: https://krateo.example",
                                                   "Access-Control-Request-Method: GET",
                                                   "Access-Control-Request-Headers: last-event-id"}};
  for (const char* path : {"/events", "/events/c1", "/notifications", "/notifications/"}) {
    auto r = c.fetch(u(path), pre);
    EXPECT_EQ(r.status, 204) << path;
    EXPECT_EQ(r.header("access-control-allow-origin"), "https://krateo.example") << path;
    EXPECT_EQ(r.header("access-control-allow-methods"), "GET, OPTIONS") << path;
    EXPECT_EQ(r.header("access-control-allow-headers"), "last-event-id") << path;
  }
  EXPECT_EQ(c.fetch(u("/events")).header("access-control-allow-origin"), "https://krateo.example");
}

TEST_F(EventsApiTest, UnknownPathIs404) {
  startServer();
  Client c;
  EXPECT_EQ(c.fetch(u("/nope")).status, 404);
}

}  // namespace
}  // namespace kobs::serve::testing
