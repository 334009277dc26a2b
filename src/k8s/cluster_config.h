// Where the API server is and how to authenticate to it: from the in-cluster
// service account or from a kubeconfig file.
//
// Lookup order of resolveClusterConfig (controller-runtime's): an explicit
// kubeconfig path, then $KUBECONFIG (its first file), then the in-cluster
// service account when KUBERNETES_SERVICE_HOST is set, then ~/.kube/config.
//
// Threading: loading is plain file parsing, call from any thread; the
// resulting ClusterConfig is an immutable value whose token source is itself
// thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "k8s/token_source.h"

namespace kobs::k8s {

struct ClusterConfig {
  std::string server;                  // "https://10.0.0.1:443", no trailing slash
  std::string ca_pem;                  // empty: the system trust store
  std::string client_cert_pem;         // client certificate authentication, with client_key_pem
  std::string client_key_pem;
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;         // SNI/verification name override (unused when empty)
  std::shared_ptr<TokenSource> token;  // null: no bearer token
  std::string default_namespace;       // from the context or the service account
  std::string source;                  // "in-cluster" or the kubeconfig path (for the startup log)
};

// Files the service account mounts; injectable so tests use a temp dir.
struct InClusterPaths {
  std::filesystem::path token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::filesystem::path ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::filesystem::path ns = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
  std::chrono::milliseconds token_recheck = std::chrono::seconds(5);
};

// Environment lookup; injectable so tests do not mutate the process environment.
using GetEnv = std::function<std::string(const char*)>;
std::string processEnv(const char* name);

// Service account config; host and port from KUBERNETES_SERVICE_HOST/PORT.
// Throws kobs::Exception(kBadConfig) when not running in a cluster.
ClusterConfig inClusterConfig(const InClusterPaths& paths = {}, const GetEnv& env = processEnv);

// Parses a kubeconfig; `context` empty means current-context. Relative file
// paths inside resolve against the file's directory. Throws kBadConfig.
ClusterConfig loadKubeconfig(const std::filesystem::path& path, const std::string& context = {});

struct ResolveOptions {
  std::string kubeconfig;  // --kubeconfig
  std::string context;     // --context
  InClusterPaths in_cluster;
  GetEnv env = processEnv;
};

ClusterConfig resolveClusterConfig(const ResolveOptions& options = {});

}  // namespace kobs::k8s
