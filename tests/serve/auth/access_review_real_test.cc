// SubjectAccessReview and the clientconfig Secret check against a real
// kube-apiserver with real RBAC (tests/support/real_apiserver, shared by this
// binary). Names (users, groups, namespaces) are unique per test, since
// grants outlive a test on a shared server.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "k8s/api_client.h"
#include "k8s/cluster_config.h"
#include "serve/auth/access_review.h"
#include "serve/auth/clientconfig_check.h"
#include "support/real_apiserver.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::serve::auth {
namespace {

using kobs::testing::RealApiServer;

RealApiServer& kube() { return kobs::testing::RealApiServerEnvironment::server(); }

class AccessReviewRealTest : public ::testing::Test {
 protected:
  // kobs's own identity: a kubeconfig context of the test cluster (admin may
  // create SubjectAccessReviews; carol has no grant at all).
  void useContext(const std::string& context) {
    client_ = std::make_unique<k8s::ApiClient>(k8s::loadKubeconfig(kube().kubeconfig(), context));
  }
  void SetUp() override { useContext("admin"); }
  void TearDown() override {
    if (stopped_) kube().startApiServer();
  }
  ApiClientSource source() {
    return [this]() -> k8s::ApiClient& { return *client_; };
  }
  std::string unique(const std::string& name) { return name + "-" + std::to_string(++seq_); }
  void stopApiServer() {
    kube().stopApiServer();
    stopped_ = true;
  }

  std::unique_ptr<k8s::ApiClient> client_;
  bool stopped_ = false;
  static inline int seq_ = 0;
};

TEST_F(AccessReviewRealTest, NamespaceAndClusterWideAnswersFromRealRbac) {
  const auto a = kube().createNamespace("ar-a"), b = kube().createNamespace("ar-b");
  const auto alice = unique("alice"), ops = unique("ops");
  kube().grant(a, "User", alice, {"list"}, {"events"});
  kube().grant(b, "User", alice, {"get"}, {"events"});  // another verb grants nothing
  kube().grant("", "Group", ops, {"list"}, {"events"});  // cluster-wide, to a group
  NamespaceAuthorizer authz(source(), {});
  const Identity alice_id{alice, {}};
  EXPECT_FALSE(authz.allowed(alice_id, ""));
  EXPECT_TRUE(authz.allowed(alice_id, a));
  EXPECT_FALSE(authz.allowed(alice_id, b));
  EXPECT_EQ(authz.allowedAmong(alice_id, {"", a, b}), (std::vector<std::string>{a}));
  EXPECT_EQ(authz.cachedAllows(alice_id, a), true);
  EXPECT_EQ(authz.cachedAllows(alice_id, ""), false);  // cluster-scoped rows need the cluster-wide grant
  EXPECT_FALSE(authz.cachedAllows(alice_id, "never-asked"));
  // The group comes from the identity kobs verified, not from a token.
  const Identity dave{unique("dave"), {ops}};
  EXPECT_EQ(authz.allowedAmong(dave, {a, b}), std::nullopt);  // every namespace
  EXPECT_EQ(authz.cachedAllows(dave, "any"), true);
  EXPECT_EQ(authz.decide(dave, {"x", "y"}), (std::map<std::string, bool>{{"x", true}, {"y", true}}));
  const Identity nobody{unique("mallory"), {unique("nogroup")}};
  EXPECT_FALSE(authz.allowed(nobody, a));
}

// kobs's own identity may not create SubjectAccessReviews (403), then the API
// server is down: both fail closed, as an error, never as "allowed".
TEST_F(AccessReviewRealTest, ForbiddenReviewsAndADownServerFailClosed) {
  const auto a = kube().createNamespace("ar-closed");
  const auto alice = unique("alice");
  kube().grant(a, "User", alice, {"list"}, {"events"});
  useContext("carol");
  NamespaceAuthorizer forbidden(source(), {.ttl = std::chrono::milliseconds(0)});
  try {
    forbidden.allowed({alice, {}}, a);
    ADD_FAILURE() << "a review kobs may not create answered";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kApiUnavailable) << e.what();
  }
  useContext("admin");
  NamespaceAuthorizer authz(source(), {.ttl = std::chrono::milliseconds(0)});  // no cache: every call asks
  EXPECT_TRUE(authz.allowed({alice, {}}, a));
  stopApiServer();
  EXPECT_THROW(authz.allowed({alice, {}}, a), Exception);
}

TEST_F(AccessReviewRealTest, ClientConfigSecretLookedUpInTheConfiguredNamespace) {
  const auto ns = kube().createNamespace("ar-authn");
  const auto bob = unique("bob");
  ClientConfigCheck check(source(), {.ns = ns});
  EXPECT_FALSE(check.exists(bob));
  kube().createSecret(ns, ClientConfigCheck::secretName(bob), {{"kubeconfig", "x"}});
  EXPECT_TRUE(check.exists(bob));  // a missing Secret is asked again: a user who just logged in never waits
  EXPECT_TRUE(check.exists(bob));  // the same Secret, from the cache...
  stopApiServer();
  EXPECT_TRUE(check.exists(bob));  // ...even with the API server down
  EXPECT_THROW(check.exists(unique("carol")), Exception);
}

}  // namespace
}  // namespace kobs::serve::auth
