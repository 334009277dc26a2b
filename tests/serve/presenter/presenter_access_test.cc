// The presenter's optional access checks (clientconfig Secret, namespace
// scoping by SubjectAccessReview) against the fake API server over loopback
// HTTP, a real embedded store and a real HTTP listener.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "k8s/api_client.h"
#include "serve/auth/access_review.h"
#include "serve/auth/authenticator.h"
#include "serve/auth/clientconfig_check.h"
#include "serve/events/events_fixture.h"
#include "serve/events/sse_client.h"
#include "http/http_server.h"
#include "serve/presenter/event_namespaces.h"
#include "serve/presenter/presenter_api.h"
#include "support/fake_kube_apiserver.h"
#include "support/http_client.h"
#include "support/jwt.h"
#include "support/temp_dir.h"

namespace kobs::serve::presenter {
namespace {

using http::testing::Client;
using serve::testing::SseClient;
using json = nlohmann::json;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hs256(const json& payload, const std::string& secret = "jwt-sign-key") {
  return kobs::testing::jwt::hs256(payload, secret);
}

std::string tokenFor(const std::string& user, const std::vector<std::string>& groups = {}) {
  const int64_t now = nowNs() / 1000000000;
  return hs256({{"username", user}, {"groups", groups}, {"iss", "krateo.io"}, {"exp", now + 3600}, {"nbf", now - 5}});
}

struct Access {
  bool clientconfig = false;
  bool scoping = false;
  std::chrono::milliseconds ttl{30000};
};

class PresenterAccessTest : public serve::testing::EventsStoreTest {
 protected:
  // One event row in namespace `ns` (event uid `uid`).
  void insert(const std::vector<std::pair<std::string, std::string>>& rows) {
    std::string body;
    int64_t ts = nowNs() - 60'000'000'000LL;
    for (const auto& [uid, ns] : rows) {
      json obj = {{"metadata", {{"name", uid}, {"namespace", ns}, {"uid", uid}}},
                  {"involvedObject", {{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", "p-" + uid}, {"namespace", ns},
                                      {"uid", "obj-" + uid}}},
                  {"reason", "Created"}, {"message", "m"}, {"type", "Normal"},
                  {"source", {{"component", "kubelet"}}}, {"lastTimestamp", "2026-03-15T10:00:00Z"}};
      body += json{{"Timestamp", isoNanos(ts += 1000)}, {"SeverityText", "Normal"},
                   {"Body", json{{"type", "ADDED"}, {"object", obj}}.dump()},
                   {"ResourceAttributes", {{"telemetry.source", "k8s-events"}, {"k8s.cluster.name", "c1"}}},
                   {"LogAttributes", json::object()}}.dump() + "\n";
    }
    store_->execute(fmt::format(
        "INSERT INTO `{}`.otel_logs SETTINGS date_time_input_format='best_effort' FORMAT JSONEachRow\n{}", database_,
        body));
  }

  void start(Access access, const std::string& tokens_file = "") {
    kube_.start();
    k8s::ClusterConfig cc;
    cc.server = kube_.url();
    k8s::HttpOptions ho;
    ho.connect_timeout = std::chrono::milliseconds(1000);
    ho.request_timeout = std::chrono::milliseconds(2000);
    api_client_ = std::make_unique<k8s::ApiClient>(cc, ho);
    auth::ApiClientSource source = [this]() -> k8s::ApiClient& { return *api_client_; };
    auth::AuthOptions ao;
    ao.jwt_hs256_secret = "jwt-sign-key";
    ao.tokens_file = tokens_file;
    authn_ = auth::Authenticator::create(ao);
    PresenterAccess pa;
    if (access.clientconfig) {
      clientconfig_ = std::make_unique<auth::ClientConfigCheck>(
          source, auth::ClientConfigOptions{.ns = "krateo-system", .ttl = access.ttl}, &metrics_);
      pa.clientconfig = clientconfig_.get();
    }
    if (access.scoping) {
      authorizer_ = std::make_unique<auth::NamespaceAuthorizer>(
          source, auth::AccessReviewOptions{.ttl = access.ttl, .max_entries = 1000}, &metrics_);
      namespaces_ = std::make_unique<EventNamespaces>(*store_, database_, "krateo_events", access.ttl);
      pa.authorizer = authorizer_.get();
      pa.namespaces = namespaces_.get();
    }
    reader_ = std::make_unique<PresenterReader>(*store_, database_, "krateo_events", "default-cluster");
    event_reader_ = std::make_unique<events::EventReader>(*store_, database_, "krateo_events");
    feed_ = std::make_unique<events::EventFeed>(*event_reader_,
                                                events::FeedOptions{.poll_interval = std::chrono::milliseconds(50)});
    feed_->start();
    PresenterApiOptions o;
    o.sse.retry = std::chrono::milliseconds(0);
    api_ = std::make_unique<PresenterApi>(o, authn_.get(), pa);
    http::Router router;
    api_->addRoutes(router);
    api_->attach(*reader_, *feed_);
    server_ = std::make_unique<http::Server>(http::ServerOptions{.listen = "127.0.0.1:0"}, std::move(router));
    server_->start();
  }

  void TearDown() override {
    if (server_) server_->stop(std::chrono::milliseconds(500));
    api_.reset();
    if (feed_) feed_->stop();
    kube_.stop();
  }

  std::string url(const std::string& target) const { return fmt::format("http://127.0.0.1:{}{}", server_->port(), target); }

  // The namespaces of the listed events, and the status.
  std::pair<long, std::multiset<std::string>> list(const std::string& token, const std::string& query = "") {
    Client c;
    auto r = c.fetch(url("/events" + query), {.headers = {"Authorization: Bearer " + token}});
    std::multiset<std::string> out;
    if (r.status == 200) {
      const json page = json::parse(r.body);
      for (const auto& it : page["resources"]) out.insert(it["namespace"].get<std::string>());
    }
    last_body_ = r.body;
    return {r.status, out};
  }

  kobs::testing::FakeKubeApiServer kube_;
  metrics::Registry metrics_;
  std::unique_ptr<k8s::ApiClient> api_client_;
  std::unique_ptr<auth::Authenticator> authn_;
  std::unique_ptr<auth::ClientConfigCheck> clientconfig_;
  std::unique_ptr<auth::NamespaceAuthorizer> authorizer_;
  std::unique_ptr<EventNamespaces> namespaces_;
  std::unique_ptr<PresenterReader> reader_;
  std::unique_ptr<events::EventReader> event_reader_;
  std::unique_ptr<events::EventFeed> feed_;
  std::unique_ptr<PresenterApi> api_;
  std::unique_ptr<http::Server> server_;
  std::string last_body_;
};

using NsSet = std::multiset<std::string>;

void expectStatus(const std::string& body, int code, const std::string& reason) {
  auto st = json::parse(body);
  EXPECT_EQ(st["kind"], "Status");
  EXPECT_EQ(st["apiVersion"], "v1");
  EXPECT_EQ(st["status"], "Failure");
  EXPECT_EQ(st["reason"], reason);
  EXPECT_EQ(st["code"], code);
}

TEST_F(PresenterAccessTest, FeaturesOffListEverythingAndAskTheApiNothing) {
  insert({{"a1", "ns-a"}, {"b1", "ns-b"}});
  start({});
  auto [status, nss] = list(tokenFor("alice"));
  EXPECT_EQ(status, 200);
  EXPECT_EQ(nss, (NsSet{"ns-a", "ns-b"})) << last_body_;
  EXPECT_EQ(kube_.accessReviewRequests(), 0u);
}

TEST_F(PresenterAccessTest, UserAllowedInOneNamespaceListsOnlyIt) {
  insert({{"a1", "ns-a"}, {"a2", "ns-a"}, {"b1", "ns-b"}, {"c1", "ns-c"}});
  kube_.allowAccess({.user = "alice", .ns = "ns-a"});
  kube_.allowAccess({.user = "alice", .ns = "ns-b", .verb = "get"});  // another verb grants nothing
  start({.scoping = true});
  EXPECT_EQ(list(tokenFor("alice")).second, (NsSet{"ns-a", "ns-a"}));
  // A namespace filter outside the grant lists nothing (and is not widened).
  auto [st, none] = list(tokenFor("alice"), "?namespace=ns-b");
  EXPECT_EQ(st, 200);
  EXPECT_TRUE(none.empty());
  // Someone with no grant sees nothing.
  EXPECT_TRUE(list(tokenFor("mallory")).second.empty());
  // The review was for `list` `events` in the core group, user as in the token.
  auto reviews = kube_.accessReviews();
  ASSERT_FALSE(reviews.empty());
  const auto& ra = reviews.front()["spec"]["resourceAttributes"];
  EXPECT_EQ(reviews.front()["spec"]["user"], "alice");
  EXPECT_EQ(ra["verb"], "list");
  EXPECT_EQ(ra["resource"], "events");
  EXPECT_EQ(ra["group"], "");
  EXPECT_EQ(ra["namespace"], "");  // the cluster-wide question comes first
}

TEST_F(PresenterAccessTest, ClusterWideGrantListsEverythingWithOneReview) {
  insert({{"a1", "ns-a"}, {"b1", "ns-b"}, {"c1", "ns-c"}});
  kube_.allowAccess({.user = "bob"});
  start({.scoping = true});
  EXPECT_EQ(list(tokenFor("bob")).second, (NsSet{"ns-a", "ns-b", "ns-c"}));
  EXPECT_EQ(kube_.accessReviewRequests(), 1u);
}

TEST_F(PresenterAccessTest, GroupsAreSentAndHonoured) {
  insert({{"a1", "ns-a"}, {"b1", "ns-b"}});
  kube_.allowAccess({.group = "devs", .ns = "ns-b"});
  start({.scoping = true});
  EXPECT_EQ(list(tokenFor("carol", {"devs"})).second, (NsSet{"ns-b"}));
  EXPECT_TRUE(list(tokenFor("carol")).second.empty());  // same user, without the group
  bool saw_groups = false;
  for (const auto& r : kube_.accessReviews()) {
    auto groups = r["spec"]["groups"].get<std::vector<std::string>>();
    if (std::find(groups.begin(), groups.end(), "devs") != groups.end()) saw_groups = true;
    // The API server adds this group to every authenticated user.
    EXPECT_NE(std::find(groups.begin(), groups.end(), "system:authenticated"), groups.end());
  }
  EXPECT_TRUE(saw_groups);
}

TEST_F(PresenterAccessTest, AnswersAreCachedForTheTtlThenAskedAgain) {
  insert({{"a1", "ns-a"}, {"b1", "ns-b"}});
  kube_.allowAccess({.user = "alice", .ns = "ns-a"});
  start({.scoping = true, .ttl = std::chrono::milliseconds(1500)});
  EXPECT_EQ(list(tokenFor("alice")).second, (NsSet{"ns-a"}));
  const auto first = kube_.accessReviewRequests();
  EXPECT_EQ(first, 3u);  // cluster-wide, ns-a, ns-b
  EXPECT_EQ(list(tokenFor("alice")).second, (NsSet{"ns-a"}));
  EXPECT_EQ(kube_.accessReviewRequests(), first);  // from the cache
  EXPECT_NE(metrics_.renderPrometheus().find("kobs_presenter_access_cache_hits_total{check=\"access_review\"} 3"),
            std::string::npos);
  // Revoked: once the answers expire, the grant is gone.
  kube_.clearAccessRules();
  std::this_thread::sleep_for(std::chrono::milliseconds(1700));
  EXPECT_TRUE(list(tokenFor("alice")).second.empty());
  EXPECT_GT(kube_.accessReviewRequests(), first);
}

TEST_F(PresenterAccessTest, ApiDownFailsClosedWith503StatusForListAndStream) {
  insert({{"a1", "ns-a"}});
  kube_.allowAccess({.user = "alice", .ns = "ns-a"});
  start({.scoping = true});
  kube_.failAccessReviews(500);
  auto [st, nss] = list(tokenFor("alice"));
  EXPECT_EQ(st, 503);
  expectStatus(last_body_, 503, "ServiceUnavailable");
  Client c;
  auto sse = c.fetch(url("/notifications"), {.headers = {"Authorization: Bearer " + tokenFor("alice"), "Origin: https://ui"}});
  EXPECT_EQ(sse.status, 503);
  expectStatus(sse.body, 503, "ServiceUnavailable");
  EXPECT_EQ(sse.header("access-control-allow-origin"), "https://ui");
  EXPECT_EQ(sse.header("retry-after"), "10");
  // Unreachable (connection refused) the same way.
  kube_.failAccessReviews(0);
  kube_.stop();
  EXPECT_EQ(list(tokenFor("alice")).first, 503);
  EXPECT_NE(metrics_.renderPrometheus().find("kobs_presenter_access_reviews_total{result=\"error\"} 3"),
            std::string::npos);
}

TEST_F(PresenterAccessTest, StaticTokensAreRefusedWhenChecksAreOn) {
  kobs::testing::TempDir dir;
  const std::string path = dir.str() + "/tokens";
  std::ofstream(path) << "static-token\n";
  insert({{"a1", "ns-a"}});
  start({.scoping = true}, path);
  auto [st, nss] = list("static-token");
  EXPECT_EQ(st, 403);
  expectStatus(last_body_, 403, "Forbidden");
  EXPECT_EQ(last_body_.find("static-token"), std::string::npos);
  EXPECT_EQ(kube_.accessReviewRequests(), 0u);
}

TEST_F(PresenterAccessTest, ClientConfigSecretRequired) {
  insert({{"a1", "ns-a"}});
  start({.clientconfig = true});
  const std::string token = tokenFor("Alice.Smith");
  auto [st, nss] = list(token);
  EXPECT_EQ(st, 401);
  expectStatus(last_body_, 401, "Unauthorized");
  EXPECT_NE(last_body_.find("alicesmith-clientconfig"), std::string::npos);
  // Another namespace's Secret does not count.
  kube_.create("secrets", {{"metadata", {{"name", "alicesmith-clientconfig"}, {"namespace", "default"}}}});
  EXPECT_EQ(list(token).first, 401);
  kube_.create("secrets", {{"metadata", {{"name", "alicesmith-clientconfig"}, {"namespace", "krateo-system"}}},
                           {"data", {{"server-url", "aHR0cHM6Ly9leGFtcGxl"}}}});
  EXPECT_EQ(list(token).first, 200);
  EXPECT_EQ(list(token).first, 200);  // cached
  EXPECT_NE(metrics_.renderPrometheus().find("kobs_presenter_access_cache_hits_total{check=\"clientconfig\"} 1"),
            std::string::npos);
  // The stream is checked the same way.
  SseClient no(server_->port(), "/notifications", {"Authorization: Bearer " + tokenFor("bob")});
  EXPECT_NE(no.head().find("401"), std::string::npos);
  SseClient yes(server_->port(), "/notifications", {"Authorization: Bearer " + token});
  EXPECT_NE(yes.head().find("200"), std::string::npos);
  // API down: 503, not 401 and not 200 (a cached user keeps working until the TTL).
  kube_.stop();
  EXPECT_EQ(list(tokenFor("bob")).first, 503);
  expectStatus(last_body_, 503, "ServiceUnavailable");
}

TEST_F(PresenterAccessTest, StreamCarriesOnlyAllowedNamespacesLiveAndOnResume) {
  insert({{"a0", "ns-a"}, {"b0", "ns-b"}});
  kube_.allowAccess({.user = "alice", .ns = "ns-a"});
  kube_.allowAccess({.user = "alice", .ns = "ns-new"});  // no events there yet
  kube_.allowAccess({.user = "root"});
  start({.scoping = true});
  const std::string alice = tokenFor("alice");
  SseClient a(server_->port(), "/notifications", {"Authorization: Bearer " + alice});
  SseClient all(server_->port(), "/notifications", {"Authorization: Bearer " + tokenFor("root")});
  ASSERT_TRUE(a.next());  // connected
  ASSERT_TRUE(all.next());
  insert({{"b1", "ns-b"}, {"a1", "ns-a"}, {"n1", "ns-new"}, {"b2", "ns-b"}, {"a2", "ns-a"}});
  feed_->wake();
  std::vector<std::string> got;
  std::string first_id;
  for (int i = 0; i < 3; ++i) {
    auto f = a.nextEvent();
    ASSERT_TRUE(f) << i;
    if (i == 0) first_id = f->id;
    got.push_back(json::parse(f->data)["event_id"]);
  }
  // In order; ns-new was reviewed when its first event arrived.
  EXPECT_EQ(got, (std::vector<std::string>{"a1", "n1", "a2"}));
  EXPECT_FALSE(a.nextEvent(std::chrono::milliseconds(500)));
  std::vector<std::string> every;
  for (int i = 0; i < 5; ++i) {
    auto f = all.nextEvent();
    ASSERT_TRUE(f) << i;
    every.push_back(json::parse(f->data)["event_id"]);
  }
  EXPECT_EQ(every, (std::vector<std::string>{"b1", "a1", "n1", "b2", "a2"}));
  // Resume after the first frame: the replay is scoped too.
  SseClient resumed(server_->port(), "/notifications?lastEventId=" + first_id, {"Authorization: Bearer " + alice});
  std::vector<std::string> replayed;
  for (int i = 0; i < 2; ++i) {
    auto f = resumed.nextEvent();
    ASSERT_TRUE(f) << i;
    replayed.push_back(json::parse(f->data)["event_id"]);
  }
  EXPECT_EQ(replayed, (std::vector<std::string>{"n1", "a2"}));
  EXPECT_FALSE(resumed.nextEvent(std::chrono::milliseconds(500)));
}

TEST_F(PresenterAccessTest, StreamWhoseScopeCannotBeRefreshedIsClosed) {
  insert({{"a0", "ns-a"}});
  kube_.allowAccess({.user = "alice", .ns = "ns-a"});
  start({.scoping = true, .ttl = std::chrono::milliseconds(500)});
  SseClient a(server_->port(), "/notifications", {"Authorization: Bearer " + tokenFor("alice")});
  ASSERT_TRUE(a.next());
  kube_.failAccessReviews(503);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // the answers expire
  insert({{"a1", "ns-a"}});
  feed_->wake();
  EXPECT_FALSE(a.nextEvent(std::chrono::seconds(3)));  // not delivered unchecked: the stream ends
  EXPECT_TRUE(a.closed());
}

}  // namespace
}  // namespace kobs::serve::presenter
