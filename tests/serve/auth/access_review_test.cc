// The presenter's access checks on their own: the TTL cache, the clientconfig
// Secret name, and the review failures only the fake API server can produce
// on demand. Real RBAC answers, 403, a down server and the Secret lookup run
// against the real kube-apiserver in access_review_real_test.cc.
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

// Fake: a real server cannot be made to answer reviews 429 or 500 on demand
// (403 and a server that is down run against the real one, in
// access_review_real_test.cc).
TEST_F(AccessReviewTest, ThrottledAndFailingReviewsFailClosed) {
  kube_.allowAccess({.user = "alice"});
  NamespaceAuthorizer authz(source(), {.ttl = std::chrono::milliseconds(0)});  // no cache: every call asks
  const Identity alice{"alice", {}};
  EXPECT_TRUE(authz.allowed(alice, ""));
  for (int status : {429, 500}) {
    kube_.failAccessReviews(status);
    try {
      authz.allowed(alice, "");
      ADD_FAILURE() << status << " answered";
    } catch (const Exception& e) {
      EXPECT_EQ(e.code(), ErrorCode::kApiUnavailable) << status;
    }
  }
  kube_.failAccessReviews(0);
  EXPECT_TRUE(authz.allowed(alice, ""));
  // No client can be built (cluster unreachable at start).
  NamespaceAuthorizer none([]() -> k8s::ApiClient& { throw std::runtime_error("no cluster"); }, {});
  EXPECT_THROW(none.allowed(alice, ""), Exception);
}

}  // namespace
}  // namespace kobs::serve::auth
