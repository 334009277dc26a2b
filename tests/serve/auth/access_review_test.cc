// The presenter's access checks on their own: the TTL cache, the clientconfig
// Secret name, and SubjectAccessReview answers and failures from the fake API
// server over loopback HTTP.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "k8s/api_client.h"
#include "serve/auth/access_review.h"
#include "serve/auth/clientconfig_check.h"
#include "serve/auth/ttl_cache.h"
#include "support/fake_kube_apiserver.h"

namespace kobs::serve::auth {
namespace {

TEST(TtlCache, ExpiresAndStaysBounded) {
  auto now = std::chrono::steady_clock::time_point{};
  TtlCache<int> cache(std::chrono::milliseconds(100), 3, [&] { return now; });
  cache.put("a", 1);
  now += std::chrono::milliseconds(10);
  cache.put("b", 2);
  now += std::chrono::milliseconds(10);
  cache.put("c", 3);
  cache.put("d", 4);  // full: the oldest answer ("a") goes
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.get("a"));
  EXPECT_EQ(cache.get("d"), 4);
  now += std::chrono::milliseconds(95);  // "b" is 105 ms old
  EXPECT_FALSE(cache.get("b"));
  EXPECT_EQ(cache.get("c"), 3);
  TtlCache<int> off(std::chrono::milliseconds(0), 10);
  off.put("x", 1);
  EXPECT_FALSE(off.get("x"));
}

TEST(ClientConfigName, Dns1123AsKrateoNamesIt) {
  EXPECT_EQ(ClientConfigCheck::secretName("cyberjoker"), "cyberjoker-clientconfig");
  EXPECT_EQ(dns1123Name("Alice.Smith@example.com"), "alicesmithexamplecom");
  EXPECT_EQ(dns1123Name("--admin_1"), "admin1");
  EXPECT_EQ(dns1123Name(std::string(80, 'x')).size(), 63u);
}

class AccessReviewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube_.start();
    k8s::ClusterConfig cc;
    cc.server = kube_.url();
    k8s::HttpOptions ho;
    ho.request_timeout = std::chrono::milliseconds(2000);
    client_ = std::make_unique<k8s::ApiClient>(cc, ho);
  }
  ApiClientSource source() {
    return [this]() -> k8s::ApiClient& { return *client_; };
  }
  kobs::testing::FakeKubeApiServer kube_;
  std::unique_ptr<k8s::ApiClient> client_;
};

TEST_F(AccessReviewTest, NamespaceAndClusterWideAnswers) {
  kube_.allowAccess({.user = "alice", .ns = "ns-a"});
  kube_.allowAccess({.group = "ops"});
  NamespaceAuthorizer authz(source(), {});
  const Identity alice{"alice", {}};
  EXPECT_FALSE(authz.allowed(alice, ""));
  EXPECT_TRUE(authz.allowed(alice, "ns-a"));
  EXPECT_FALSE(authz.allowed(alice, "ns-b"));
  EXPECT_EQ(authz.allowedAmong(alice, {"", "ns-a", "ns-b"}), (std::vector<std::string>{"ns-a"}));
  EXPECT_EQ(authz.cachedAllows(alice, "ns-a"), true);
  EXPECT_EQ(authz.cachedAllows(alice, ""), false);  // cluster-scoped rows need the cluster-wide grant
  EXPECT_FALSE(authz.cachedAllows(alice, "ns-z"));  // never asked
  const Identity op{"dave", {"ops"}};
  EXPECT_EQ(authz.allowedAmong(op, {"ns-a", "ns-b"}), std::nullopt);  // every namespace
  EXPECT_EQ(authz.cachedAllows(op, "ns-z"), true);
  EXPECT_EQ(authz.decide(op, {"x", "y"}), (std::map<std::string, bool>{{"x", true}, {"y", true}}));
}

TEST_F(AccessReviewTest, RefusalsAndOutagesFailClosed) {
  kube_.allowAccess({.user = "alice"});
  NamespaceAuthorizer authz(source(), {.ttl = std::chrono::milliseconds(0)});  // no cache: every call asks
  const Identity alice{"alice", {}};
  EXPECT_TRUE(authz.allowed(alice, ""));
  for (int status : {403, 429, 500}) {
    kube_.failAccessReviews(status);
    try {
      authz.allowed(alice, "");
      ADD_FAILURE() << status << " answered";
    } catch (const Exception& e) {
      EXPECT_EQ(e.code(), ErrorCode::kApiUnavailable) << status;
    }
  }
  kube_.failAccessReviews(0);
  kube_.stop();
  EXPECT_THROW(authz.allowed(alice, ""), Exception);
  // No client can be built (cluster unreachable at start).
  NamespaceAuthorizer none([]() -> k8s::ApiClient& { throw std::runtime_error("no cluster"); }, {});
  EXPECT_THROW(none.allowed(alice, ""), Exception);
}

TEST_F(AccessReviewTest, ClientConfigLookupInTheConfiguredNamespace) {
  ClientConfigCheck check(source(), {.ns = "authn"});
  EXPECT_FALSE(check.exists("bob"));
  kube_.create("secrets", {{"metadata", {{"name", "bob-clientconfig"}, {"namespace", "authn"}}}});
  EXPECT_TRUE(check.exists("bob"));
  EXPECT_TRUE(check.exists("Bob"));  // the same Secret
  kube_.stop();
  EXPECT_TRUE(check.exists("bob"));  // cached
  EXPECT_THROW(check.exists("carol"), Exception);
}

}  // namespace
}  // namespace kobs::serve::auth
