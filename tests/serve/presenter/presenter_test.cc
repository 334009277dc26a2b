// The events-presenter API (serve/presenter) against a real embedded store and
// a real HTTP listener: the reference's compatibility checklist as tests.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/rfc3339.h"
#include "serve/auth/authenticator.h"
#include "serve/events/events_api.h"
#include "serve/events/events_fixture.h"
#include "serve/events/sse_client.h"
#include "http/http_server.h"
#include "support/http_client.h"
#include "support/jwt.h"
#include "serve/presenter/presenter_api.h"

namespace kobs::serve::presenter {
namespace {

using http::testing::Client;
using http::testing::CurlRequest;
using serve::testing::SseClient;
using json = nlohmann::json;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One k8s-event row as the receiver writes it, with a chosen event uid (so
// several rows can belong to one event) and cluster.
struct Row {
  std::string event_uid;
  int64_t ts_ns;
  std::string message = "m";
  std::string ns = "demo";
  std::string kind = "Pod";
  std::string name = "web-1";
  std::string obj_uid = "obj-1";
  std::string composition_id;
  std::string cluster = "c1";
  std::string reason = "Created";
  json labels = nullptr;
};

class PresenterTest : public serve::testing::EventsStoreTest {
 protected:
  void insertRows(const std::vector<Row>& rows) {
    std::string body;
    for (const auto& r : rows) {
      json obj = {{"metadata", {{"name", r.name + ".x"}, {"namespace", r.ns}, {"uid", r.event_uid}}},
                  {"involvedObject", {{"apiVersion", "v1"}, {"kind", r.kind}, {"name", r.name}, {"namespace", r.ns},
                                      {"uid", r.obj_uid}}},
                  {"reason", r.reason}, {"message", r.message}, {"type", "Normal"},
                  {"source", {{"component", "kubelet"}}}, {"lastTimestamp", "2026-03-15T10:00:00Z"}};
      if (!r.labels.is_null()) obj["involvedObject"]["labels"] = r.labels;
      json la = json::object();
      if (!r.composition_id.empty()) la["krateo.io/composition-id"] = r.composition_id;
      json ra = {{"telemetry.source", "k8s-events"}};
      if (!r.cluster.empty()) ra["k8s.cluster.name"] = r.cluster;
      body += json{{"Timestamp", isoNanos(r.ts_ns)}, {"SeverityText", "Normal"},
                   {"Body", json{{"type", "ADDED"}, {"object", obj}}.dump()}, {"ResourceAttributes", ra},
                   {"LogAttributes", la}}.dump() + "\n";
    }
    store_->execute(fmt::format(
        "INSERT INTO `{}`.otel_logs SETTINGS date_time_input_format='best_effort' FORMAT JSONEachRow\n{}", database_,
        body));
  }

  void startServer(const auth::Authenticator* auth = nullptr, NotificationOptions sse = {}) {
    reader_ = std::make_unique<PresenterReader>(*store_, database_, "krateo_events", "default-cluster");
    event_reader_ = std::make_unique<events::EventReader>(*store_, database_, "krateo_events");
    feed_ = std::make_unique<events::EventFeed>(*event_reader_, events::FeedOptions{.poll_interval = std::chrono::milliseconds(50)});
    feed_->start();
    PresenterApiOptions o;
    o.max_limit = 100;
    o.sse = sse;
    api_ = std::make_unique<PresenterApi>(o, auth);
    http::Router router;
    api_->addRoutes(router);
    api_->attach(*reader_, *feed_);
    http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    server_ = std::make_unique<http::Server>(so, std::move(router));
    server_->start();
  }
  void TearDown() override {
    if (server_) server_->stop(std::chrono::milliseconds(500));
    api_.reset();
    if (feed_) feed_->stop();
  }
  std::string url(const std::string& target) const { return fmt::format("http://127.0.0.1:{}{}", server_->port(), target); }

  json getJson(const std::string& target, long expect = 200, CurlRequest req = {}) {
    Client c;
    auto r = c.fetch(url(target), req);
    EXPECT_EQ(r.status, expect) << target << " " << r.body;
    return r.status == 200 ? json::parse(r.body) : json();
  }

  // Every page, the cursor appended unencoded as the frontend does.
  std::vector<json> allPages(const std::string& extra = "", int* pages = nullptr) {
    std::vector<json> items;
    std::string cursor;
    int n = 0;
    do {
      std::string target = "/events?" + extra;
      if (!cursor.empty()) target += "&cursor=" + cursor;
      auto page = getJson(target);
      if (page.is_null()) break;
      for (auto& it : page["resources"]) items.push_back(it);
      cursor = page["cursor"].get<std::string>();
      EXPECT_LT(++n, 1000);
    } while (!cursor.empty() && n < 1000);
    if (pages) *pages = n;
    return items;
  }

  std::unique_ptr<PresenterReader> reader_;
  std::unique_ptr<events::EventReader> event_reader_;
  std::unique_ptr<events::EventFeed> feed_;
  std::unique_ptr<PresenterApi> api_;
  std::unique_ptr<http::Server> server_;
};

TEST(PresenterCursor, RoundTripsUrlSafeAndDecodesLeniently) {
  PageCursor c{1773568800123456789, "c1:ev/+?&=x"};
  const std::string enc = c.encode();
  EXPECT_EQ(enc.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
  auto back = PageCursor::decode(enc);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->created_ns, c.created_ns);
  EXPECT_EQ(back->global_uid, c.global_uid);
  // Standard alphabet with padding (events-presenter's own cursors) decodes too.
  std::string std_enc = enc;
  for (auto& ch : std_enc) ch = ch == '-' ? '+' : ch == '_' ? '/' : ch;
  while (std_enc.size() % 4) std_enc += '=';
  ASSERT_TRUE(PageCursor::decode(std_enc));
  EXPECT_FALSE(PageCursor::decode("not a cursor!"));
  EXPECT_FALSE(PageCursor::decode("e30"));  // {} lacks the fields
  EXPECT_EQ(rfc3339Nano(1773568800123000000), "2026-03-15T10:00:00.123Z");
  EXPECT_EQ(rfc3339Nano(1773568800000000000), "2026-03-15T10:00:00Z");
  EXPECT_EQ(rfc3339::parseNanos("2026-03-15T11:00:00.5+01:00"), 1773568800500000000);
  EXPECT_FALSE(rfc3339::parseNanos("2026-03-15"));
}

TEST_F(PresenterTest, NewestRowPerEventNewestFirstWithEveryField) {
  const int64_t t0 = nowNs() - 3600'000'000'000LL;
  insertRows({{.event_uid = "e1", .ts_ns = t0, .message = "old", .composition_id = "comp-1"},
              {.event_uid = "e2", .ts_ns = t0 + 1000, .message = "two"},
              {.event_uid = "e1", .ts_ns = t0 + 2000, .message = "new", .composition_id = "comp-1"},
              {.event_uid = "e3", .ts_ns = t0 + 3000, .message = "three", .cluster = ""}});
  startServer();
  Client c;
  auto r = c.fetch(url("/events"), {.headers = {"Origin: https://krateo.example"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("access-control-allow-origin"), "https://krateo.example");
  auto page = json::parse(r.body);
  EXPECT_EQ(page["cursor"], "");
  ASSERT_EQ(page["resources"].size(), 3u);
  const auto& a = page["resources"][0];
  EXPECT_EQ(a["global_uid"], "default-cluster:e3");  // no cluster attribute: the configured one
  const auto& b = page["resources"][1];
  EXPECT_EQ(b["global_uid"], "c1:e1");
  EXPECT_EQ(b["message"], "new");
  EXPECT_EQ(b["event_id"], "e1");
  EXPECT_EQ(b["cluster_name"], "c1");
  EXPECT_EQ(b["namespace"], "demo");
  EXPECT_EQ(b["resource_kind"], "Pod");
  EXPECT_EQ(b["resource_name"], "web-1");
  EXPECT_EQ(b["involved_object_uid"], "obj-1");
  EXPECT_EQ(b["event_type"], "Normal");
  EXPECT_EQ(b["reason"], "Created");
  EXPECT_EQ(b["composition_id"], "comp-1");
  EXPECT_EQ(b["created_at"], rfc3339Nano(t0 + 2000));
  ASSERT_TRUE(b["raw"].is_string());
  EXPECT_EQ(json::parse(b["raw"].get<std::string>())["metadata"]["uid"], "e1");
  EXPECT_FALSE(page["resources"][2].contains("composition_id"));
  EXPECT_EQ(page["resources"][2]["global_uid"], "c1:e2");
}

TEST_F(PresenterTest, PagesToTheEndWithTheUnencodedCursor) {
  const int64_t t0 = nowNs() - 3 * 86400'000'000'000LL;  // spread over 3 days: the window widens
  std::vector<Row> rows;
  for (int i = 0; i < 230; ++i) {
    // every 5th event gets a second, newer row: it must appear once, with the newer row
    rows.push_back({.event_uid = fmt::format("e{:03}", i), .ts_ns = t0 + int64_t(i) * 1000'000'000'000LL, .message = "first"});
    if (i % 5 == 0)
      rows.push_back({.event_uid = fmt::format("e{:03}", i), .ts_ns = t0 + int64_t(i + 300) * 1000'000'000'000LL / 2,
                      .message = "second"});
  }
  // Same timestamp, different events: the global_uid breaks the tie.
  rows.push_back({.event_uid = "tie-a", .ts_ns = t0 + 5, .message = "first"});
  rows.push_back({.event_uid = "tie-b", .ts_ns = t0 + 5, .message = "first"});
  insertRows(rows);
  startServer();
  int pages = 0;
  auto items = allPages("limit=7", &pages);
  ASSERT_EQ(items.size(), 232u);
  EXPECT_EQ(pages, 34);  // 33 full pages + 1; the last cursor is empty
  std::set<std::string> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_TRUE(seen.insert(items[i]["global_uid"]).second) << items[i]["global_uid"];
    if (i > 0) {
      auto prev = std::make_pair(*rfc3339::parseNanos(items[i - 1]["created_at"].get<std::string>()), items[i - 1]["global_uid"].get<std::string>());
      auto cur = std::make_pair(*rfc3339::parseNanos(items[i]["created_at"].get<std::string>()), items[i]["global_uid"].get<std::string>());
      EXPECT_GT(prev, cur);
    }
    const int n = items[i]["global_uid"].get<std::string>().rfind("c1:e", 0) == 0
                      ? std::stoi(items[i]["global_uid"].get<std::string>().substr(4)) : 1;
    EXPECT_EQ(items[i]["message"], n % 5 == 0 ? "second" : "first") << items[i]["global_uid"];
  }
  // Default limit 50, capped at the configured maximum (100).
  EXPECT_EQ(getJson("/events")["resources"].size(), 50u);
  EXPECT_EQ(getJson("/events?limit=0")["resources"].size(), 50u);
  EXPECT_EQ(getJson("/events?limit=100000")["resources"].size(), 100u);
}

TEST_F(PresenterTest, FiltersGetAndPost) {
  const int64_t t0 = nowNs() - 600'000'000'000LL;
  insertRows({{.event_uid = "a", .ts_ns = t0, .ns = "ns1", .kind = "Pod", .name = "web-frontend", .cluster = "c1",
               .labels = {{"app", "web"}}},
              {.event_uid = "b", .ts_ns = t0 + 1'000'000'000, .ns = "ns2", .kind = "Deployment", .name = "api",
               .cluster = "c2"},
              {.event_uid = "c", .ts_ns = t0 + 2'000'000'000, .ns = "ns1", .kind = "Pod", .name = "db", .cluster = "c1"}});
  startServer();
  auto uids = [](const json& page) {
    std::vector<std::string> out;
    for (auto& it : page["resources"]) out.push_back(it["event_id"]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(uids(getJson("/events?namespace=ns1")), (V{"c", "a"}));
  EXPECT_EQ(uids(getJson("/events?kind=Deployment")), (V{"b"}));
  EXPECT_EQ(uids(getJson("/events?cluster=c2")), (V{"b"}));
  EXPECT_EQ(uids(getJson("/events?name=FRONT")), (V{"a"}));
  EXPECT_EQ(uids(getJson("/events?labels=%7B%22app%22%3A%22web%22%7D")), (V{"a"}));
  EXPECT_EQ(uids(getJson("/events?since=" + rfc3339Nano(t0 + 1'000'000'000))), (V{"c", "b"}));
  auto post = [&](const std::string& body, long expect) {
    return getJson("/events", expect, {.method = "POST", .body = body, .headers = {"Content-Type: application/json"}});
  };
  EXPECT_EQ(uids(post(R"({"namespace":"ns1","kind":"Pod","labels":{"app":"web"},"limit":10})", 200)), (V{"a"}));
  EXPECT_EQ(uids(post(R"({"limit":"1"})", 200)), (V{"c"}));
  // 400s
  Client c;
  auto bad = [&](const std::string& target, const std::string& prefix, CurlRequest req = {}) {
    auto r = c.fetch(url(target), req);
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_EQ(r.body.rfind(prefix, 0), 0u) << r.body;
  };
  bad("/events?cursor=%21%21garbage", "invalid cursor");
  bad("/events?since=yesterday", "invalid params");
  bad("/events?limit=ten", "invalid params");
  bad("/events?labels=notjson", "invalid params");
  bad("/events", "invalid params", {.method = "POST", .body = ""});
  bad("/events", "invalid params", {.method = "POST", .body = R"({"composition_id":"x"})"});
  // 405 with Allow
  auto r = c.fetch(url("/events"), {.method = "DELETE"});
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.header("allow").find("POST"), std::string::npos);
  EXPECT_NE(r.header("allow").find("GET"), std::string::npos);
  EXPECT_EQ(c.fetch(url("/notifications/")).status, 404);
  EXPECT_EQ(c.fetch(url("/livez")).status, 200);
  EXPECT_EQ(c.fetch(url("/readyz")).status, 200);
}

TEST_F(PresenterTest, NotificationsStreamKeepaliveFilterAndResume) {
  startServer(nullptr, NotificationOptions{.keepalive = std::chrono::milliseconds(300), .retry = std::chrono::milliseconds(0)});
  SseClient all(server_->port(), "/notifications", {"Origin: https://ui"});
  const std::string head = all.head();
  EXPECT_NE(head.find("200"), std::string::npos);
  EXPECT_NE(head.find("text/event-stream"), std::string::npos);
  EXPECT_NE(head.find("Access-Control-Allow-Origin: https://ui"), std::string::npos);
  auto first = all.next(std::chrono::seconds(2));  // flushed at once, before any event
  ASSERT_TRUE(first);
  EXPECT_EQ(first->raw, ": connected\n\n");
  // Keepalives arrive on the configured period.
  const auto t = std::chrono::steady_clock::now();
  auto ka = all.next(std::chrono::seconds(3));
  ASSERT_TRUE(ka);
  EXPECT_EQ(ka->raw, ": keepalive\n\n");
  EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::milliseconds(1500));

  SseClient one(server_->port(), "/notifications?composition_id=comp-b");
  ASSERT_TRUE(one.next());  // connected
  const int64_t t0 = nowNs();
  insertRows({{.event_uid = "s1", .ts_ns = t0, .composition_id = "comp-a"},
              {.event_uid = "s2", .ts_ns = t0 + 1, .composition_id = "comp-b"},
              {.event_uid = "s3", .ts_ns = t0 + 2}});
  feed_->wake();
  std::vector<serve::testing::SseFrame> got;
  for (int i = 0; i < 3; ++i) {
    auto f = all.nextEvent();
    ASSERT_TRUE(f) << i;
    got.push_back(*f);
  }
  EXPECT_EQ(got[0].event, "krateo");
  auto item = json::parse(got[0].data);
  EXPECT_EQ(item["global_uid"], "c1:s1");
  EXPECT_FALSE(item.contains("raw"));
  EXPECT_TRUE(item["reason"].is_string());
  EXPECT_FALSE(got[0].id.empty());
  auto only = one.nextEvent();
  ASSERT_TRUE(only);
  EXPECT_EQ(json::parse(only->data)["event_id"], "s2");
  EXPECT_FALSE(one.nextEvent(std::chrono::milliseconds(500)));

  // Resume after the first frame with ?lastEventId= (as the polyfill does):
  // the two later events and then live ones, nothing twice.
  SseClient resumed(server_->port(), "/notifications?lastEventId=" + got[0].id);
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    auto f = resumed.nextEvent();
    ASSERT_TRUE(f);
    ids.push_back(json::parse(f->data)["event_id"]);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"s2", "s3"}));
  insertRows({{.event_uid = "s4", .ts_ns = nowNs()}});
  feed_->wake();
  auto live = resumed.nextEvent();
  ASSERT_TRUE(live);
  EXPECT_EQ(json::parse(live->data)["event_id"], "s4");
  EXPECT_FALSE(resumed.nextEvent(std::chrono::milliseconds(500)));
  // Last-Event-ID header works the same way.
  SseClient by_header(server_->port(), "/notifications", {"Last-Event-ID: " + got[2].id});
  auto h = by_header.nextEvent();
  ASSERT_TRUE(h);
  EXPECT_EQ(json::parse(h->data)["event_id"], "s4");
}

TEST_F(PresenterTest, BothListenersServeTheSameEventsInTheSameOrder) {
  const int64_t t0 = nowNs() - 100'000'000'000LL;
  std::vector<Row> rows;
  for (int i = 0; i < 40; ++i)
    rows.push_back({.event_uid = fmt::format("u{}", i), .ts_ns = t0 + int64_t(i) * 1'000'000'000,
                    .message = fmt::format("msg {}", i), .name = fmt::format("obj-{}", i),
                    .composition_id = i % 2 ? "comp" : ""});
  insertRows(rows);
  startServer();
  events::EventsApi old_api(events::EventsApiOptions{}, nullptr);
  http::Router router;
  old_api.addRoutes(router);
  old_api.attach(*event_reader_, *feed_);
  http::Server old_server({.listen = "127.0.0.1:0"}, std::move(router));
  old_server.start();
  Client c;
  auto old_list = json::parse(c.fetch(fmt::format("http://127.0.0.1:{}/events", old_server.port())).body);
  auto new_list = allPages("limit=15");
  ASSERT_EQ(old_list.size(), new_list.size());
  for (size_t i = 0; i < old_list.size(); ++i) {
    EXPECT_EQ(old_list[i]["involvedObject"]["name"], new_list[i]["resource_name"]);
    EXPECT_EQ(old_list[i]["message"], new_list[i]["message"]);
    EXPECT_EQ(old_list[i]["reason"], new_list[i]["reason"]);
  }
  // Live: the same event reaches both streams.
  SseClient old_sse(old_server.port(), "/notifications");
  SseClient new_sse(server_->port(), "/notifications");
  ASSERT_TRUE(old_sse.next());
  ASSERT_TRUE(new_sse.next());
  insertRows({{.event_uid = "live", .ts_ns = nowNs(), .message = "both", .name = "live-obj"}});
  feed_->wake();
  auto o = old_sse.nextEvent();
  auto n = new_sse.nextEvent();
  ASSERT_TRUE(o && n);
  EXPECT_EQ(json::parse(o->data)["message"], "both");
  EXPECT_EQ(json::parse(n->data)["message"], "both");
  EXPECT_EQ(json::parse(o->data)["involvedObject"]["name"], json::parse(n->data)["resource_name"]);
  old_server.stop(std::chrono::milliseconds(500));
}

// --- JWT: HS256 and RS256 by kid from a JWKS served on loopback ---

using kobs::testing::jwt::hs256;
using Rsa = kobs::testing::jwt::RsaKey;

int64_t nowS() { return nowNs() / 1000000000; }

TEST(PresenterJwt, Hs256AndRs256ByKidFromJwksAcceptedForgeriesRefused) {
  Rsa rsa, other;
  std::atomic<int> fetches{0};
  http::Router router;
  router.get("/.well-known/jwks.json", [&](const http::Request&) {
    ++fetches;
    return http::Response::json(200, json{{"keys", json::array({rsa.jwk("k1")})}}.dump());
  });
  http::Server jwks({.listen = "127.0.0.1:0"}, std::move(router));
  jwks.start();
  auth::AuthOptions o;
  o.jwt_hs256_secret = "jwt-sign-key";
  o.jwt_jwks_url = fmt::format("http://127.0.0.1:{}/.well-known/jwks.json", jwks.port());
  // No refresh within the test: an unknown kid is then refused (401), not
  // "refreshing" (503).
  o.jwks_min_refresh = std::chrono::hours(1);
  auto a = auth::Authenticator::create(o);
  ASSERT_TRUE(a->waitForJwksFetches(1, std::chrono::seconds(30)));  // fetched in the background
  const json claims = {{"username", "cyberjoker"}, {"groups", {"devs"}}, {"iss", "krateo.io"},
                       {"exp", nowS() + 3600}, {"nbf", nowS() - 10}};
  // Valid: HS256 (as authn mints), RS256 by kid.
  auto hs = a->verifyToken(hs256({{"alg", "HS256"}, {"typ", "JWT"}}, claims, "jwt-sign-key"));
  EXPECT_TRUE(hs.ok()) << hs.message;
  EXPECT_EQ(hs.identity.username, "cyberjoker");
  EXPECT_EQ(hs.identity.groups, std::vector<std::string>{"devs"});
  auto rs = a->verifyToken(rsa.sign({{"alg", "RS256"}, {"kid", "k1"}}, claims));
  EXPECT_TRUE(rs.ok()) << rs.message;
  EXPECT_EQ(fetches.load(), 1);
  EXPECT_TRUE(a->verifyToken(rsa.sign({{"alg", "RS256"}, {"kid", "k1"}}, claims)).ok());
  EXPECT_EQ(fetches.load(), 1);  // cached
  // Refused, all 401.
  auto refused = [&](const std::string& token, const char* what) {
    auto r = a->verifyToken(token);
    EXPECT_EQ(r.status, 401) << what << ": " << r.message;
  };
  json expired = claims;
  expired["exp"] = nowS() - 6;  // beyond the 5 s leeway
  refused(hs256({{"alg", "HS256"}}, expired, "jwt-sign-key"), "expired");
  json early = claims;
  early["nbf"] = nowS() + 60;
  refused(rsa.sign({{"alg", "RS256"}, {"kid", "k1"}}, early), "not yet valid");
  refused(hs256({{"alg", "HS256"}}, claims, "another-key"), "wrong HMAC key");
  refused(other.sign({{"alg", "RS256"}, {"kid", "k1"}}, claims), "wrong RSA key");
  refused(other.sign({{"alg", "RS256"}, {"kid", "k9"}}, claims), "unknown kid");
  refused(kobs::testing::jwt::base64Url(json{{"alg", "none"}}.dump()) + "." + kobs::testing::jwt::base64Url(claims.dump()) + ".", "alg none");
  refused(hs256({{"alg", "HS256"}, {"kid", "k1"}}, claims, rsa.publicPem()), "HS256 signed with the RSA public key");
  const std::string good = rsa.sign({{"alg", "RS256"}, {"kid", "k1"}}, claims);
  refused(good.substr(0, good.size() - 10), "truncated");
  refused(good.substr(0, good.rfind('.')), "two segments");
  // Within the leeway: accepted.
  json edge = claims;
  edge["exp"] = nowS() - 2;
  EXPECT_TRUE(a->verifyToken(hs256({{"alg", "HS256"}}, edge, "jwt-sign-key")).ok());

  // The JWKS goes away: a token whose key only it could vouch for gets 503.
  jwks.stop();
  auto b = auth::Authenticator::create(o);
  auto down = b->verifyToken(rsa.sign({{"alg", "RS256"}, {"kid", "k1"}}, claims));
  EXPECT_EQ(down.status, 503);
  auto resp = auth::Authenticator::statusResponse(down);
  EXPECT_EQ(resp.status, 503);
  // HS256 tokens do not depend on the JWKS.
  EXPECT_TRUE(b->verifyToken(hs256({{"alg", "HS256"}}, claims, "jwt-sign-key")).ok());
}

TEST_F(PresenterTest, AuthBearerOrCookieStatusJsonAndPreflightFirst) {
  auth::AuthOptions o;
  o.jwt_hs256_secret = "jwt-sign-key";
  auto a = auth::Authenticator::create(o);
  insertRows({{.event_uid = "x", .ts_ns = nowNs()}});
  startServer(a.get());
  const std::string token = hs256({{"alg", "HS256"}}, {{"username", "u"}, {"exp", nowS() + 60}}, "jwt-sign-key");
  Client c;
  auto none = c.fetch(url("/events"), {.headers = {"Origin: https://ui"}});
  EXPECT_EQ(none.status, 401);
  auto st = json::parse(none.body);
  EXPECT_EQ(st["kind"], "Status");
  EXPECT_EQ(st["apiVersion"], "v1");
  EXPECT_EQ(st["status"], "Failure");
  EXPECT_EQ(st["reason"], "Unauthorized");
  EXPECT_EQ(st["code"], 401);
  EXPECT_EQ(none.header("access-control-allow-origin"), "https://ui");
  EXPECT_EQ(c.fetch(url("/events"), {.headers = {"Authorization: Bearer " + token}}).status, 200);
  EXPECT_EQ(c.fetch(url("/events"), {.headers = {"Cookie: a=b; krateo-session=" + token}}).status, 200);
  // No query tokens on this listener.
  EXPECT_EQ(c.fetch(url("/events?access_token=" + token)).status, 401);
  EXPECT_EQ(c.fetch(url("/notifications?token=" + token)).status, 401);
  auto bad = c.fetch(url("/events"), {.headers = {"Authorization: Bearer " + token.substr(0, token.size() - 3)}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.body.find(token.substr(0, 20)), std::string::npos);  // the token is not echoed
  // Preflight before auth.
  auto pre = c.fetch(url("/events"), {.method = "OPTIONS",
                                      .headers = {"Origin: https://ui", "Access-Control-Request-Method: GET",
                                                  "Access-Control-Request-Headers: authorization"}});
  EXPECT_EQ(pre.status, 200);
  EXPECT_EQ(pre.header("access-control-allow-origin"), "https://ui");
  EXPECT_NE(pre.header("access-control-allow-headers").find("X-Krateo-TraceId"), std::string::npos);
  EXPECT_NE(pre.header("access-control-allow-headers").find("Authorization"), std::string::npos);
  EXPECT_EQ(pre.header("access-control-max-age"), "300");
  EXPECT_EQ(c.fetch(url("/notifications"), {.method = "OPTIONS", .headers = {"Origin: https://ui"}}).status, 200);
  EXPECT_EQ(c.fetch(url("/livez")).status, 200);
  // SSE with the Bearer header (what event-source-polyfill sends).
  SseClient sse(server_->port(), "/notifications", {"Authorization: Bearer " + token, "Origin: https://ui"});
  EXPECT_NE(sse.head().find("Access-Control-Allow-Origin: https://ui"), std::string::npos);
  auto f = sse.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->raw.rfind(": connected\n\n", 0), 0u);
}

}  // namespace
}  // namespace kobs::serve::presenter
