// The presenter's access checks against a real kube-apiserver with real RBAC
// (tests/support/real_apiserver, shared by this binary): SubjectAccessReviews
// answered from Roles, ClusterRoles and their bindings to users and groups,
// and the clientconfig Secret read from the API. Each test uses its own
// namespaces and user names, since grants outlive a test on a shared server.
#include "serve/presenter/presenter_access_fixture.h"

#include "k8s/cluster_config.h"
#include "support/real_apiserver.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::serve::presenter::testing {
namespace {

using kobs::testing::RealApiServer;

RealApiServer& kube() { return kobs::testing::RealApiServerEnvironment::server(); }

bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

class PresenterAccessRealTest : public PresenterAccessFixture {
 protected:
  // kobs's own identity: the admin context of the test cluster's kubeconfig.
  k8s::ClusterConfig apiConfig() override { return k8s::loadKubeconfig(kube().kubeconfig()); }
  // A user name no other test of this binary uses.
  std::string user(const std::string& name) { return name + "-" + std::to_string(++seq_); }
  static inline int seq_ = 0;
};

TEST_F(PresenterAccessRealTest, UserAllowedInOneNamespaceListsOnlyIt) {
  const auto a = kube().createNamespace("pa"), b = kube().createNamespace("pb"), c = kube().createNamespace("pc");
  const auto alice = user("alice");
  insert({{"a1", a}, {"a2", a}, {"b1", b}, {"c1", c}});
  kube().grant(a, "User", alice, {"list", "watch"}, {"events"});
  kube().grant(b, "User", alice, {"get"}, {"events"});        // another verb grants nothing
  kube().grant(c, "User", alice, {"list"}, {"pods"});         // another resource neither
  kube().grant(c, "User", alice, {"list"}, {"events"}, "events.k8s.io");  // nor another group
  start({.scoping = true});
  EXPECT_EQ(list(tokenFor(alice)).second, (NsSet{a, a}));
  // A namespace filter outside the grant lists nothing (and is not widened).
  auto [st, none] = list(tokenFor(alice), "?namespace=" + b);
  EXPECT_EQ(st, 200);
  EXPECT_TRUE(none.empty());
  // Someone with no grant sees nothing.
  EXPECT_TRUE(list(tokenFor(user("mallory"))).second.empty());
  EXPECT_NE(metrics_.renderPrometheus().find("kobs_presenter_access_reviews_total{result=\"error\"} 0"),
            std::string::npos);
}

TEST_F(PresenterAccessRealTest, ClusterWideGrantListsEverything) {
  const auto a = kube().createNamespace("pa"), b = kube().createNamespace("pb");
  const auto bob = user("bob");
  insert({{"a1", a}, {"b1", b}, {"x1", "not-a-namespace-of-this-cluster"}});
  kube().grant("", "User", bob, {"list"}, {"events"});
  start({.scoping = true});
  EXPECT_EQ(list(tokenFor(bob)).second, (NsSet{a, b, "not-a-namespace-of-this-cluster"}));
  EXPECT_NE(metrics_.renderPrometheus().find("kobs_presenter_access_reviews_total{result=\"allowed\"} 1"),
            std::string::npos);
}

TEST_F(PresenterAccessRealTest, GroupsAreSentAndHonoured) {
  const auto a = kube().createNamespace("pa"), b = kube().createNamespace("pb");
  const auto devs = user("devs"), carol = user("carol");
  insert({{"a1", a}, {"b1", b}});
  kube().grant(b, "Group", devs, {"list"}, {"events"});
  start({.scoping = true});
  EXPECT_EQ(list(tokenFor(carol, {devs})).second, (NsSet{b}));
  EXPECT_TRUE(list(tokenFor(carol)).second.empty());  // same user, without the group
  // system:authenticated is a group the API server gives every authenticated
  // user; a grant to it reaches anyone kobs asks about.
  kube().grant(a, "Group", "system:authenticated", {"list"}, {"events"});
  EXPECT_EQ(list(tokenFor(user("dave"))).second, (NsSet{a}));
}

TEST_F(PresenterAccessRealTest, AnswersAreCachedForTheTtlThenRevocationIsSeen) {
  const auto a = kube().createNamespace("pa"), b = kube().createNamespace("pb");
  const auto alice = user("alice");
  insert({{"a1", a}, {"b1", b}});
  kube().grant(a, "User", alice, {"list"}, {"events"});
  start({.scoping = true, .ttl = std::chrono::milliseconds(1500)});
  EXPECT_EQ(list(tokenFor(alice)).second, (NsSet{a}));
  EXPECT_EQ(list(tokenFor(alice)).second, (NsSet{a}));
  // cluster-wide, a, b: all three from the cache the second time.
  EXPECT_NE(metrics_.renderPrometheus().find("kobs_presenter_access_cache_hits_total{check=\"access_review\"} 3"),
            std::string::npos);
  // Revoked in the cluster: once the answers expire, the grant is gone.
  const auto bindings = kube().get("/apis/rbac.authorization.k8s.io/v1/namespaces/" + a + "/rolebindings");
  ASSERT_EQ(bindings["items"].size(), 1u);
  for (const auto& rb : bindings["items"])
    kube().remove("/apis/rbac.authorization.k8s.io/v1/namespaces/" + a + "/rolebindings/" +
                  rb["metadata"]["name"].get<std::string>());
  EXPECT_TRUE(waitFor([&] { return list(tokenFor(alice)).second.empty(); }));
}

TEST_F(PresenterAccessRealTest, ClientConfigSecretRequired) {
  if (kube().request("GET", "/api/v1/namespaces/krateo-system").status == 404)
    kube().createNamespaceNamed("krateo-system");
  const auto other = kube().createNamespace("pa");
  insert({{"a1", "ns-a"}});
  start({.clientconfig = true});
  const std::string who = user("Alice.Smith");  // "Alice.Smith-<n>": the Secret name is its DNS-1123 form
  const std::string secret = auth::ClientConfigCheck::secretName(who);
  const std::string token = tokenFor(who);
  auto [st, nss] = list(token);
  EXPECT_EQ(st, 401);
  expectStatus(last_body_, 401, "Unauthorized");
  EXPECT_NE(last_body_.find(secret), std::string::npos) << last_body_;
  // Another namespace's Secret does not count.
  kube().createSecret(other, secret, {{"server-url", "https://example"}});
  EXPECT_EQ(list(token).first, 401);
  kube().createSecret("krateo-system", secret, {{"server-url", "https://example"}});
  EXPECT_EQ(list(token).first, 200);
  EXPECT_EQ(list(token).first, 200);  // cached
  EXPECT_NE(metrics_.renderPrometheus().find("kobs_presenter_access_cache_hits_total{check=\"clientconfig\"} 1"),
            std::string::npos);
  // The stream is checked the same way.
  SseClient no(server_->port(), "/notifications", {"Authorization: Bearer " + tokenFor(user("bob"))});
  EXPECT_NE(no.head().find("401"), std::string::npos);
  SseClient yes(server_->port(), "/notifications", {"Authorization: Bearer " + token});
  EXPECT_NE(yes.head().find("200"), std::string::npos);
  // API server down: 503, not 401 and not 200 (a cached user keeps working until the TTL).
  kube().stopApiServer();
  auto down = list(tokenFor(user("bob")));
  auto down_body = last_body_;
  auto cached = list(token);
  kube().startApiServer();
  EXPECT_EQ(down.first, 503);
  expectStatus(down_body, 503, "ServiceUnavailable");
  EXPECT_EQ(cached.first, 200);
}

TEST_F(PresenterAccessRealTest, StreamCarriesOnlyAllowedNamespacesLiveAndOnResume) {
  const auto a = kube().createNamespace("pa"), b = kube().createNamespace("pb"), n = kube().createNamespace("pn");
  const auto alice = user("alice"), root = user("root");
  insert({{"a0", a}, {"b0", b}});
  kube().grant(a, "User", alice, {"list"}, {"events"});
  kube().grant(n, "User", alice, {"list"}, {"events"});  // no events there yet
  kube().grant("", "User", root, {"list"}, {"events"});
  start({.scoping = true});
  const std::string alice_token = tokenFor(alice);
  SseClient sa(server_->port(), "/notifications", {"Authorization: Bearer " + alice_token});
  SseClient all(server_->port(), "/notifications", {"Authorization: Bearer " + tokenFor(root)});
  ASSERT_TRUE(sa.next());  // connected
  ASSERT_TRUE(all.next());
  insert({{"b1", b}, {"a1", a}, {"n1", n}, {"b2", b}, {"a2", a}});
  feed_->wake();
  std::vector<std::string> got;
  std::string first_id;
  for (int i = 0; i < 3; ++i) {
    auto f = sa.nextEvent();
    ASSERT_TRUE(f) << i;
    if (i == 0) first_id = f->id;
    got.push_back(json::parse(f->data)["event_id"]);
  }
  // In order; the new namespace was reviewed when its first event arrived.
  EXPECT_EQ(got, (std::vector<std::string>{"a1", "n1", "a2"}));
  std::vector<std::string> every;
  for (int i = 0; i < 5; ++i) {
    auto f = all.nextEvent();
    ASSERT_TRUE(f) << i;
    every.push_back(json::parse(f->data)["event_id"]);
  }
  EXPECT_EQ(every, (std::vector<std::string>{"b1", "a1", "n1", "b2", "a2"}));
  // Resume after the first frame: the replay is scoped too.
  SseClient resumed(server_->port(), "/notifications?lastEventId=" + first_id, {"Authorization: Bearer " + alice_token});
  std::vector<std::string> replayed;
  for (int i = 0; i < 2; ++i) {
    auto f = resumed.nextEvent();
    ASSERT_TRUE(f) << i;
    replayed.push_back(json::parse(f->data)["event_id"]);
  }
  EXPECT_EQ(replayed, (std::vector<std::string>{"n1", "a2"}));
}

}  // namespace
}  // namespace kobs::serve::presenter::testing
