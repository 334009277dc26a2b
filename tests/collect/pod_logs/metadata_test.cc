// The node-scoped pod watch against a real kube-apiserver (etcd +
// kube-apiserver, tests/support/real_apiserver): lines of pods created after
// kobs started carry their labels, owner workload and composition id; lines
// of a pod the watch never sees are held for metadata_wait, then stored
// without it.
#include <gtest/gtest.h>

#include <fstream>

#include "collect/collect_test_util.h"
#include "collect/pod_logs/pod_logs_receiver.h"
#include "k8s/cluster_config.h"
#include "support/embedded_store.h"
#include "support/real_apiserver.h"
#include "support/temp_dir.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::collect::pod_logs {
namespace {

using nlohmann::json;
using test::rows;
using test::waitFor;
namespace fs = std::filesystem;

constexpr const char* kDb = "pod_logs_meta";

class PodLogsMetadataTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    store_ = kobs::testing::openEmbeddedStore(kDb).release();
    store::schema::SchemaOptions so;
    so.database = kDb;
    schema_ = new store::schema::Schema(store::schema::SchemaManager::apply(*store_, so));
  }
  static void TearDownTestSuite() {
    delete schema_;
    delete store_;
  }
  void SetUp() override {
    pipeline::PipelineOptions po;
    po.buffer.dir = data_.path() / "buffer";
    po.buffer.fsync = pipeline::FsyncPolicy::kNever;
    po.batch.max_age = std::chrono::milliseconds(50);
    po.flush_tick = std::chrono::milliseconds(20);
    pipeline_ = std::make_unique<pipeline::Pipeline>(*store_, test::logsTarget(*schema_), po);
    pipeline_->start();
  }
  void TearDown() override {
    if (receiver_) receiver_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    receiver_.reset();
    pipeline_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  }

  kobs::testing::RealApiServer& server() { return kobs::testing::RealApiServerEnvironment::server(); }

  void startReceiver(std::chrono::milliseconds metadata_wait) {
    PodLogsOptions o;
    o.state_dir = data_.path() / "pod_logs";
    o.include = {(data_.path() / "pods" / "*/*/*.log").string()};
    o.start_at_beginning = true;
    o.poll_interval = std::chrono::milliseconds(20);
    o.scan_interval = std::chrono::milliseconds(500);
    o.node_name = "node-a";
    o.metadata_wait = metadata_wait;
    k8s::ResolveOptions ro;
    ro.kubeconfig = server().kubeconfig().string();
    o.metadata.cluster = [ro] { return k8s::resolveClusterConfig(ro); };
    o.metadata.node_name = "node-a";
    o.metadata.resolver.api_calls_per_second = 0;
    receiver_ = std::make_unique<PodLogsReceiver>(std::move(o), *pipeline_, *store_, nullptr);
    receiver_->start();
    ASSERT_TRUE(waitFor([&] { return receiver_->metadata() && receiver_->metadata()->synced(); }));
  }

  json createPod(const std::string& ns, const std::string& name, const std::string& node, const json& labels,
                 const json& owner = {}) {
    json meta = {{"name", name}, {"labels", labels}};
    if (!owner.is_null()) meta["ownerReferences"] = json::array({owner});
    return server().create("/api/v1/namespaces/" + ns + "/pods",
                           {{"apiVersion", "v1"},
                            {"kind", "Pod"},
                            {"metadata", meta},
                            {"spec", {{"nodeName", node}, {"containers", json::array({{{"name", "app"}, {"image", "busybox"}}})}}}});
  }

  fs::path writeLine(const json& pod, const std::string& body) {
    const auto& m = pod["metadata"];
    auto file = data_.path() / "pods" /
                (m["namespace"].get<std::string>() + "_" + m["name"].get<std::string>() + "_" + m["uid"].get<std::string>()) /
                "app" / "0.log";
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::app) << "2026-03-05T10:00:00.000000001Z stdout F " << body << "\n";
    return file;
  }

  static inline store::IStore* store_ = nullptr;
  static inline store::schema::Schema* schema_ = nullptr;
  kobs::testing::TempDir data_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  std::unique_ptr<PodLogsReceiver> receiver_;
};

TEST_F(PodLogsMetadataTest, LinesOfPodsCreatedAfterStartCarryLabelsWorkloadAndCompositionId) {
  const std::string ns = server().createNamespace("podlogs");
  startReceiver(std::chrono::seconds(60));
  // A Deployment labelled with a composition id; its pod (on this node) is not.
  auto w = server().createDeployment(ns, "web", {{"krateo.io/composition-id", "comp-1234"}}, 0);
  auto pod = createPod(ns, "web-5d8f7c9b6-abcde", "node-a", {{"app", "web"}, {"pod-template-hash", "5d8f7c9b6"}},
                       kobs::testing::RealApiServer::ownerRef(w.replicaset));
  // A pod labelled directly, and one on another node (not watched).
  auto labelled = createPod(ns, "solo", "node-a", {{"krateo.io/composition-id", "comp-5678"}, {"tier", "db"}});
  writeLine(pod, "from web");
  writeLine(labelled, "from solo");
  ASSERT_TRUE(waitFor([&] {
    return rows(*store_, std::string("SELECT count() AS n FROM ") + kDb + ".otel_logs")[0]["n"] == 2;
  }, std::chrono::seconds(30)));
  auto r = rows(*store_, std::string("SELECT Body, ResourceAttributes AS ra, LogAttributes AS la FROM ") + kDb +
                             ".otel_logs ORDER BY Body");
  ASSERT_EQ(r.size(), 2u);
  // "from solo"
  EXPECT_EQ(r[0]["ra"]["k8s.pod.labels.tier"], "db");
  EXPECT_EQ(r[0]["ra"]["krateo.composition.id"], "comp-5678");
  EXPECT_EQ(r[0]["la"]["krateo.io/composition-id"], "comp-5678");
  EXPECT_EQ(r[0]["ra"]["k8s.pod.name"], "solo");
  // "from web": the id through the owner chain (pod -> ReplicaSet -> Deployment).
  EXPECT_EQ(r[1]["ra"]["k8s.pod.labels.app"], "web");
  EXPECT_EQ(r[1]["ra"]["k8s.replicaset.name"], w.replicaset["metadata"]["name"]);
  EXPECT_EQ(r[1]["ra"]["k8s.deployment.name"], "web");
  EXPECT_EQ(r[1]["ra"]["krateo.composition.id"], "comp-1234");
  EXPECT_EQ(r[1]["la"]["krateo.io/composition-id"], "comp-1234");
  EXPECT_EQ(r[1]["ra"]["k8s.node.name"], "node-a");
  EXPECT_EQ(receiver_->stats().metadata_timeouts.load(), 0u);
}

TEST_F(PodLogsMetadataTest, LinesOfAPodTheWatchNeverSeesAreHeldThenStoredWithoutIt) {
  const std::string ns = server().createNamespace("podlogs");
  startReceiver(std::chrono::milliseconds(500));
  auto elsewhere = createPod(ns, "elsewhere", "node-b", {{"krateo.io/composition-id", "comp-x"}});
  writeLine(elsewhere, "not our node");
  ASSERT_TRUE(waitFor([&] {
    return rows(*store_, std::string("SELECT count() AS n FROM ") + kDb + ".otel_logs WHERE Body = 'not our node'")[0]["n"] == 1;
  }, std::chrono::seconds(30)));
  EXPECT_EQ(receiver_->stats().metadata_timeouts.load(), 1u);
  auto r = rows(*store_, std::string("SELECT ResourceAttributes AS ra FROM ") + kDb +
                             ".otel_logs WHERE Body = 'not our node'");
  EXPECT_EQ(r[0]["ra"]["k8s.pod.name"], "elsewhere");  // from the path
  EXPECT_FALSE(r[0]["ra"].contains("krateo.composition.id"));
}

}  // namespace
}  // namespace kobs::collect::pod_logs
