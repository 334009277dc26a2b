// RealApiServer: a real etcd + kube-apiserver (built from Go modules by
// scripts/setup-k8s.sh into third_party/k8s/) on free loopback ports, for
// tests that talk to Kubernetes. Start costs ~3 s, so a test binary shares
// one through RealApiServerEnvironment (registered with
// KOBS_REAL_APISERVER_ENVIRONMENT()) and isolates its tests by namespace.
//
// What it sets up: a throwaway PKI made with the openssl CLI (a self-signed
// serving certificate with SAN IP:127.0.0.1, a service-account key pair),
// static token authentication (an admin in system:masters and users with
// groups, see users()), RBAC authorization, no endpoint reconciler, and a
// kubeconfig with one context per user. There is no controller-manager,
// scheduler or kubelet: the helpers create what those would (a namespace's
// default ServiceAccount, ReplicaSets under Deployments, Pods with
// ownerReferences).
//
// Children are started with fork/exec (never through a shell) and stopped by
// PID; their output goes to log files in the work directory, printed when
// start-up fails. Missing binaries throw, naming the command that builds them.
// $KOBS_K8S_BIN_DIR points at other binaries; $KOBS_KEEP_K8S_DIR keeps the
// work directory (logs, PKI, etcd data) after the tests.
//
// Threading: start/stop/restart/compact from one thread (the test's);
// request() and the helpers may be called from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace kobs::testing {

struct KubeUser {
  std::string name;
  std::string token;
  std::vector<std::string> groups;
};

struct KubeResponse {
  long status = 0;  // 0: transport failure (see error)
  std::string body;
  std::string error;
  nlohmann::json json() const;
};

struct RealApiServerPaths {
  std::filesystem::path etcd;
  std::filesystem::path kube_apiserver;
  std::filesystem::path kubectl;
};

class RealApiServer {
 public:
  // The pinned binaries under <source>/third_party/k8s/ (or $KOBS_K8S_BIN_DIR
  // holding etcd, kube-apiserver and kubectl).
  static RealApiServerPaths binaries();
  // Empty when all binaries exist; else what is missing and how to build it.
  static std::string missingBinaries();

  RealApiServer();  // starts etcd and kube-apiserver; throws on failure
  ~RealApiServer();
  RealApiServer(const RealApiServer&) = delete;
  RealApiServer& operator=(const RealApiServer&) = delete;

  std::string url() const;  // "https://127.0.0.1:<port>"
  uint16_t port() const { return api_port_; }
  const std::string& caPem() const { return ca_pem_; }
  std::filesystem::path caFile() const;
  std::filesystem::path kubeconfig() const;  // contexts "admin" (current), "alice", "bob", "carol"
  std::string etcdUrl() const;               // "http://127.0.0.1:<port>"
  const std::filesystem::path& workDir() const { return dir_; }

  // admin (system:masters), alice (devs), bob (devs, ops), carol (no group).
  const std::vector<KubeUser>& users() const { return users_; }
  const std::string& adminToken() const { return users_.front().token; }
  const std::string& tokenOf(const std::string& user) const;

  // --- control ---
  // SIGTERM (or SIGKILL), wait, start again on the same port and wait for /readyz.
  void restartApiServer(bool kill_hard = false);
  void stopApiServer(bool kill_hard = false);
  void startApiServer();
  // Compacts etcd's history at its current revision (through etcd's JSON
  // gateway, POST /v3/kv/compaction) and returns that revision.
  int64_t compactEtcd();
  int64_t etcdRevision();

  // --- REST (admin token unless given) ---
  KubeResponse request(const std::string& method, const std::string& path, const std::string& body = "",
                       const std::string& token = "") const;
  // POST/GET/PUT/DELETE that throw std::runtime_error with the response on a non-2xx status.
  nlohmann::json create(const std::string& path, const nlohmann::json& object) const;
  nlohmann::json get(const std::string& path) const;
  nlohmann::json update(const std::string& path, const nlohmann::json& object) const;
  void remove(const std::string& path) const;

  // --- making the cluster look real ---
  // A fresh namespace named `<prefix>-<n>` with its default ServiceAccount.
  std::string createNamespace(const std::string& prefix);
  void createNamespaceNamed(const std::string& ns);

  struct Workload {
    nlohmann::json deployment;
    nlohmann::json replicaset;
    std::vector<nlohmann::json> pods;
  };
  // Deployment -> ReplicaSet -> `pods` Pods, each owned (controller: true) by
  // the one above; `labels` go on the Deployment only.
  Workload createDeployment(const std::string& ns, const std::string& name, const nlohmann::json& labels,
                            int pods = 1);
  nlohmann::json createPod(const std::string& ns, const std::string& name, const nlohmann::json& labels = {},
                           const nlohmann::json& owner = {});
  // Owner reference to `object` as a controller.
  static nlohmann::json ownerRef(const nlohmann::json& object);

  // The Krateo-style CRD fireworksapps.composition.krateo.io, version
  // v1-2-0, kind FireworksApp (installed once; waits until established and
  // discoverable).
  void installCompositionCrd();
  static constexpr const char* kCompositionApiVersion = "composition.krateo.io/v1-2-0";
  nlohmann::json createComposition(const std::string& ns, const std::string& name, const nlohmann::json& labels = {});

  // A core/v1 Event about `involved` (any object JSON from the server).
  nlohmann::json createEvent(const std::string& ns, const std::string& name, const nlohmann::json& involved,
                             const std::string& reason, const std::string& message,
                             const std::string& type = "Normal");
  // The same as events.k8s.io/v1 (regarding, note, reportingController...).
  nlohmann::json createEventV1(const std::string& ns, const std::string& name, const nlohmann::json& regarding,
                               const std::string& reason, const std::string& note,
                               const std::string& type = "Normal");
  nlohmann::json createLease(const std::string& ns, const std::string& name, const std::string& holder,
                             int duration_seconds = 15);
  // A Role + RoleBinding in `ns` (ns "": ClusterRole + ClusterRoleBinding)
  // granting `verbs` on `resources` of `api_group` to a User or a Group.
  void grant(const std::string& ns, const std::string& subject_kind, const std::string& subject,
             const std::vector<std::string>& verbs, const std::vector<std::string>& resources,
             const std::string& api_group = "");
  nlohmann::json createSecret(const std::string& ns, const std::string& name, const nlohmann::json& string_data);

 private:
  struct Proc {
    pid_t pid = -1;
    std::filesystem::path log;
  };
  void makePki();
  void writeTokenFile();
  void writeKubeconfig();
  void startEtcd();
  Proc spawn(const std::vector<std::string>& args, const std::filesystem::path& log);
  static void stopProc(Proc& p, bool kill_hard);
  void waitReady(const std::string& what, const std::function<bool()>& ready, Proc& p);
  std::string logTail(const Proc& p) const;

  std::filesystem::path dir_;
  RealApiServerPaths bins_;
  std::vector<KubeUser> users_;
  std::string ca_pem_;
  uint16_t etcd_port_ = 0, etcd_peer_port_ = 0, etcd_metrics_port_ = 0, api_port_ = 0;
  Proc etcd_, api_;
  bool crd_installed_ = false;
  std::atomic<uint64_t> ns_seq_{0};
  std::atomic<uint64_t> grant_seq_{0};
};

// Starts one RealApiServer before the first test of a binary and stops it
// after the last. server() is valid between those.
class RealApiServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
  static RealApiServer& server();
};

// In one .cc of a test binary: ::testing takes ownership of the environment
// (its API needs a raw pointer).
#define KOBS_REAL_APISERVER_ENVIRONMENT()                                                      \
  [[maybe_unused]] static ::testing::Environment* const kobs_real_apiserver_environment_ = \
      ::testing::AddGlobalTestEnvironment(new ::kobs::testing::RealApiServerEnvironment)

}  // namespace kobs::testing
