// CompositionResolver against the fake API server (the real ApiClient and
// discovery), with an injectable clock for the cache TTLs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "collect/composition/composition_resolver.h"
#include "k8s/api_client.h"
#include "support/fake_kube_apiserver.h"

namespace kobs::collect::composition {
namespace {

using nlohmann::json;

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.start();
    k8s::ClusterConfig c;
    c.server = server_.url();
    api_ = std::make_unique<k8s::ApiClient>(c);
  }

  ResolverOptions options() {
    ResolverOptions o;
    o.clock = [this] { return now_; };
    o.api_calls_per_second = 0;  // unlimited unless a test says otherwise
    return o;
  }

  json meta(const std::string& name, const std::string& uid, json labels = json::object(),
            json owners = json::array()) {
    json m = {{"name", name}, {"namespace", "demo"}, {"uid", uid}};
    if (!labels.empty()) m["labels"] = labels;
    if (!owners.empty()) m["ownerReferences"] = owners;
    return m;
  }
  static json owner(const std::string& api_version, const std::string& kind, const std::string& name,
                    const std::string& uid) {
    return {{"apiVersion", api_version}, {"kind", kind}, {"name", name}, {"uid", uid}, {"controller", true}};
  }

  testing::FakeKubeApiServer server_;
  std::unique_ptr<k8s::ApiClient> api_;
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1000)};
};

TEST_F(ResolverTest, LabelledObjectGivesItsLabel) {
  server_.create("pods", {{"metadata", meta("p1", "pod-1", {{"krateo.io/composition-id", "comp-A"}})}});
  CompositionResolver r(apiFetcher(*api_), options());
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "p1", "pod-1"}), "comp-A");
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "p1", "pod-1"}), "comp-A");
  EXPECT_EQ(r.stats().api_calls.load(), 1u);
  EXPECT_EQ(r.stats().cache_hits.load(), 1u);
}

TEST_F(ResolverTest, ConfiguredLabelKey) {
  server_.create("pods", {{"metadata", meta("p1", "pod-1", {{"example.com/cid", "comp-X"}})}});
  auto o = options();
  o.label_key = "example.com/cid";
  CompositionResolver r(apiFetcher(*api_), o);
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "p1", "pod-1"}), "comp-X");
}

TEST_F(ResolverTest, UnlabelledCompositionUsesItsOwnUid) {
  server_.create("fireworksapps.composition.krateo.io",
                 {{"metadata", meta("fireworks", "fw-uid-1")}, {"spec", {{"replicas", 1}}}});
  CompositionResolver r(apiFetcher(*api_), options());
  EXPECT_EQ(r.resolve({"composition.krateo.io/v1-2-0", "FireworksApp", "demo", "fireworks", "fw-uid-1"}), "fw-uid-1");
}

TEST_F(ResolverTest, OwnerChainFindsTheLabelledOwner) {
  server_.create("deployments.apps", {{"metadata", meta("web", "dep-1", {{"krateo.io/composition-id", "comp-B"}})}});
  server_.create("replicasets.apps",
                 {{"metadata", meta("web-5d8", "rs-1", {}, json::array({owner("apps/v1", "Deployment", "web", "dep-1")}))}});
  server_.create("pods",
                 {{"metadata", meta("web-5d8-x", "pod-2", {}, json::array({owner("apps/v1", "ReplicaSet", "web-5d8", "rs-1")}))}});
  server_.create("pods",
                 {{"metadata", meta("web-5d8-y", "pod-3", {}, json::array({owner("apps/v1", "ReplicaSet", "web-5d8", "rs-1")}))}});
  CompositionResolver r(apiFetcher(*api_), options());
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "web-5d8-x", "pod-2"}), "comp-B");
  EXPECT_EQ(r.stats().api_calls.load(), 3u);
  // The sibling pod costs one GET: its owner is cached under the owner's uid.
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "web-5d8-y", "pod-3"}), "comp-B");
  EXPECT_EQ(r.stats().api_calls.load(), 4u);
}

TEST_F(ResolverTest, OwnerDepthIsBounded) {
  server_.create("deployments.apps", {{"metadata", meta("web", "dep-1", {{"krateo.io/composition-id", "comp-B"}})}});
  server_.create("replicasets.apps",
                 {{"metadata", meta("web-5d8", "rs-1", {}, json::array({owner("apps/v1", "Deployment", "web", "dep-1")}))}});
  server_.create("pods",
                 {{"metadata", meta("web-5d8-x", "pod-2", {}, json::array({owner("apps/v1", "ReplicaSet", "web-5d8", "rs-1")}))}});
  auto o = options();
  o.max_owner_depth = 1;
  CompositionResolver r(apiFetcher(*api_), o);
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "web-5d8-x", "pod-2"}), "");
}

TEST_F(ResolverTest, MissingObjectIsEmptyAndCounted) {
  CompositionResolver r(apiFetcher(*api_), options());
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "gone", "pod-404"}), "");
  EXPECT_EQ(r.stats().not_found.load(), 1u);
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "", "pod-404"}), "");  // no name: no lookup
  EXPECT_EQ(r.stats().api_calls.load(), 1u);
}

TEST_F(ResolverTest, ApiFailureIsCountedAndEmpty) {
  CompositionResolver r([](const ObjectRef&) -> std::optional<std::string> {
    throw std::runtime_error("connection refused");
  }, options());
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "p", "u"}), "");
  EXPECT_EQ(r.stats().api_errors.load(), 1u);
}

TEST_F(ResolverTest, FoundIsCachedFiveMinutesNotFoundThirtySeconds) {
  CompositionResolver r(apiFetcher(*api_), options());
  // Not found, then created: still "" within 30 s, found after.
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "p1", "pod-1"}), "");
  server_.create("pods", {{"metadata", meta("p1", "pod-1", {{"krateo.io/composition-id", "comp-A"}})}});
  now_ += std::chrono::seconds(29);
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "p1", "pod-1"}), "");
  now_ += std::chrono::seconds(2);
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "p1", "pod-1"}), "comp-A");
  // Relabelled: the old id stays for 5 min, then the new one is read.
  auto obj = *server_.get("pods", "demo", "p1");
  obj["metadata"]["labels"]["krateo.io/composition-id"] = "comp-Z";
  server_.update("pods", obj);
  now_ += std::chrono::minutes(4) + std::chrono::seconds(59);
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "p1", "pod-1"}), "comp-A");
  now_ += std::chrono::seconds(2);
  EXPECT_EQ(r.resolve({"v1", "Pod", "demo", "p1", "pod-1"}), "comp-Z");
}

TEST_F(ResolverTest, CacheIsBoundedLru) {
  int calls = 0;
  auto o = options();
  o.cache_size = 3;
  CompositionResolver r([&calls](const ObjectRef& ref) -> std::optional<std::string> {
    ++calls;
    return json{{"metadata", {{"uid", ref.uid}, {"labels", {{"krateo.io/composition-id", "c-" + ref.uid}}}}}}.dump();
  }, o);
  for (const char* u : {"a", "b", "c"}) EXPECT_EQ(r.resolve({"v1", "Pod", "n", "x", u}), std::string("c-") + u);
  r.resolve({"v1", "Pod", "n", "x", "a"});  // a becomes the most recent
  r.resolve({"v1", "Pod", "n", "x", "d"});  // evicts b, the least recent
  EXPECT_EQ(r.cacheSize(), 3u);
  EXPECT_EQ(r.cacheEvictions(), 1u);
  calls = 0;
  r.resolve({"v1", "Pod", "n", "x", "a"});
  EXPECT_EQ(calls, 0);
  r.resolve({"v1", "Pod", "n", "x", "b"});
  EXPECT_EQ(calls, 1);
}

TEST_F(ResolverTest, ApiBudgetStopsTheStormAndRefills) {
  int calls = 0;
  auto o = options();
  o.api_calls_per_second = 10;
  o.api_burst = 5;
  CompositionResolver r([&calls](const ObjectRef& ref) -> std::optional<std::string> {
    ++calls;
    return json{{"metadata", {{"uid", ref.uid}, {"labels", {{"krateo.io/composition-id", "c"}}}}}}.dump();
  }, o);
  int resolved = 0;
  for (int i = 0; i < 100; ++i) resolved += !r.resolve({"v1", "Pod", "n", "x", "uid-" + std::to_string(i)}).empty();
  EXPECT_EQ(calls, 5);  // the burst, then nothing within the same instant
  EXPECT_EQ(resolved, 5);
  EXPECT_EQ(r.stats().budget_exhausted.load(), 95u);
  // Skipped lookups are not cached: after a second, 10 more calls are allowed.
  now_ += std::chrono::seconds(1);
  for (int i = 5; i < 100; ++i) r.resolve({"v1", "Pod", "n", "x", "uid-" + std::to_string(i)});
  EXPECT_EQ(calls, 10);  // burst caps the refill at 5
}

}  // namespace
}  // namespace kobs::collect::composition
