// CompositionResolver against a real kube-apiserver (tests/support/
// real_apiserver, shared by this binary): the real ApiClient and discovery,
// real ownerReferences and a Krateo-style CRD, with an injectable clock for
// the cache TTLs. The cache and budget cases need no server at all.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "collect/composition/composition_resolver.h"
#include "k8s/api_client.h"
#include "k8s/cluster_config.h"
#include "support/real_apiserver.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::collect::composition {
namespace {

using nlohmann::json;
using kobs::testing::RealApiServer;

RealApiServer& kube() { return kobs::testing::RealApiServerEnvironment::server(); }

constexpr const char* kLabel = "krateo.io/composition-id";

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = kube().createNamespace("resolver");
    api_ = std::make_unique<k8s::ApiClient>(k8s::loadKubeconfig(kube().kubeconfig()));
  }

  ResolverOptions options() {
    ResolverOptions o;
    o.clock = [this] { return now_; };
    o.api_calls_per_second = 0;  // unlimited unless a test says otherwise
    return o;
  }

  // The reference an event's involvedObject carries for `object`.
  ObjectRef ref(const json& object) const {
    return {object["apiVersion"], object["kind"], ns_, object["metadata"]["name"], object["metadata"]["uid"]};
  }

  std::string ns_;
  std::unique_ptr<k8s::ApiClient> api_;
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1000)};
};

TEST_F(ResolverTest, LabelledObjectGivesItsLabel) {
  auto pod = kube().createPod(ns_, "p1", {{kLabel, "comp-A"}});
  CompositionResolver r(apiFetcher(*api_), options());
  EXPECT_EQ(r.resolve(ref(pod)), "comp-A");
  EXPECT_EQ(r.resolve(ref(pod)), "comp-A");
  EXPECT_EQ(r.stats().api_calls.load(), 1u);
  EXPECT_EQ(r.stats().cache_hits.load(), 1u);
}

TEST_F(ResolverTest, ConfiguredLabelKey) {
  auto pod = kube().createPod(ns_, "p1", {{"example.com/cid", "comp-X"}, {kLabel, "not-this-one"}});
  auto o = options();
  o.label_key = "example.com/cid";
  CompositionResolver r(apiFetcher(*api_), o);
  EXPECT_EQ(r.resolve(ref(pod)), "comp-X");
}

TEST_F(ResolverTest, UnlabelledCompositionUsesItsOwnUid) {
  auto comp = kube().createComposition(ns_, "fireworks");
  ASSERT_EQ(comp["apiVersion"], "composition.krateo.io/v1-2-0");
  CompositionResolver r(apiFetcher(*api_), options());
  EXPECT_EQ(r.resolve(ref(comp)), comp["metadata"]["uid"].get<std::string>());
  // A labelled composition gives its label, as any object does.
  auto labelled = kube().createComposition(ns_, "fireworks-2", {{kLabel, "comp-C"}});
  EXPECT_EQ(r.resolve(ref(labelled)), "comp-C");
}

TEST_F(ResolverTest, OwnerChainFindsTheLabelledDeploymentThroughItsReplicaSet) {
  auto w = kube().createDeployment(ns_, "web", {{kLabel, "comp-B"}}, 2);
  CompositionResolver r(apiFetcher(*api_), options());
  EXPECT_EQ(r.resolve(ref(w.pods[0])), "comp-B");
  EXPECT_EQ(r.stats().api_calls.load(), 3u);  // pod, replicaset, deployment
  // The sibling pod costs one GET: its owner is cached under the owner's uid.
  EXPECT_EQ(r.resolve(ref(w.pods[1])), "comp-B");
  EXPECT_EQ(r.stats().api_calls.load(), 4u);
  // Events about the ReplicaSet itself resolve the same way.
  EXPECT_EQ(r.resolve(ref(w.replicaset)), "comp-B");
}

TEST_F(ResolverTest, OwnerChainEndingInAComposition) {
  // What Krateo's composition controller creates: the Deployment is owned by the composition.
  auto comp = kube().createComposition(ns_, "fireworks");
  auto dep = kube().create("/apis/apps/v1/namespaces/" + ns_ + "/deployments",
                           {{"apiVersion", "apps/v1"},
                            {"kind", "Deployment"},
                            {"metadata", {{"name", "fw"}, {"ownerReferences", {RealApiServer::ownerRef(comp)}}}},
                            {"spec",
                             {{"selector", {{"matchLabels", {{"app", "fw"}}}}},
                              {"template",
                               {{"metadata", {{"labels", {{"app", "fw"}}}}},
                                {"spec", {{"containers", {{{"name", "app"}, {"image", "nginx:1.25"}}}}}}}}}}});
  auto pod = kube().createPod(ns_, "fw-0", {}, RealApiServer::ownerRef(dep));
  CompositionResolver r(apiFetcher(*api_), options());
  EXPECT_EQ(r.resolve(ref(pod)), comp["metadata"]["uid"].get<std::string>());
}

TEST_F(ResolverTest, OwnerDepthIsBounded) {
  auto w = kube().createDeployment(ns_, "web", {{kLabel, "comp-B"}});
  auto o = options();
  o.max_owner_depth = 1;
  CompositionResolver r(apiFetcher(*api_), o);
  EXPECT_EQ(r.resolve(ref(w.pods[0])), "");
}

TEST_F(ResolverTest, MissingObjectIsEmptyAndCounted) {
  CompositionResolver r(apiFetcher(*api_), options());
  EXPECT_EQ(r.resolve({"v1", "Pod", ns_, "gone", "pod-404"}), "");
  EXPECT_EQ(r.stats().not_found.load(), 1u);
  EXPECT_EQ(r.resolve({"v1", "Pod", ns_, "", "pod-404"}), "");  // no name: no lookup
  EXPECT_EQ(r.stats().api_calls.load(), 1u);
  // A kind the server does not serve is not found either.
  EXPECT_EQ(r.resolve({"composition.krateo.io/v9", "Nope", ns_, "x", "uid-x"}), "");
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
  EXPECT_EQ(r.resolve({"v1", "Pod", ns_, "p1", "pod-1"}), "");
  auto pod = kube().createPod(ns_, "p1", {{kLabel, "comp-A"}});
  ObjectRef pref = ref(pod);
  pref.uid = "pod-1";  // the cache is keyed by the uid the event carried
  now_ += std::chrono::seconds(29);
  EXPECT_EQ(r.resolve(pref), "");
  now_ += std::chrono::seconds(2);
  EXPECT_EQ(r.resolve(pref), "comp-A");
  // Relabelled: the old id stays for 5 min, then the new one is read.
  pod["metadata"]["labels"][kLabel] = "comp-Z";
  kube().update("/api/v1/namespaces/" + ns_ + "/pods/p1", pod);
  now_ += std::chrono::minutes(4) + std::chrono::seconds(59);
  EXPECT_EQ(r.resolve(pref), "comp-A");
  now_ += std::chrono::seconds(2);
  EXPECT_EQ(r.resolve(pref), "comp-Z");
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
