// The presenter's access checks against the fake API server, only for what a
// real one cannot do or show: failing reviews on demand and recording the
// reviews it was asked. Everything else runs against a real kube-apiserver
// in presenter_access_real_test.cc.
#include "serve/presenter/presenter_access_fixture.h"

#include "support/fake_kube_apiserver.h"

namespace kobs::serve::presenter::testing {
namespace {

class PresenterAccessTest : public PresenterAccessFixture {
 protected:
  k8s::ClusterConfig apiConfig() override {
    kube_.start();
    k8s::ClusterConfig cc;
    cc.server = kube_.url();
    return cc;
  }
  void TearDown() override {
    PresenterAccessFixture::TearDown();
    kube_.stop();
  }
  kobs::testing::FakeKubeApiServer kube_;
};

// Fake: counts the reviews it receives, to show none was asked.
TEST_F(PresenterAccessTest, FeaturesOffListEverythingAndAskTheApiNothing) {
  insert({{"a1", "ns-a"}, {"b1", "ns-b"}});
  start({});
  auto [status, nss] = list(tokenFor("alice"));
  EXPECT_EQ(status, 200);
  EXPECT_EQ(nss, (NsSet{"ns-a", "ns-b"})) << last_body_;
  EXPECT_EQ(kube_.accessReviewRequests(), 0u);
}

// Fake: records the review bodies kobs sends (a real server does not expose them);
// the real-RBAC answers are in presenter_access_real_test.cc.
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

// Fake: answers every review 500 on demand.
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

// Fake: counts the reviews it receives, to show none was asked.
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

// Fake: starts failing reviews (503) on demand mid-stream.
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
}  // namespace kobs::serve::presenter::testing
