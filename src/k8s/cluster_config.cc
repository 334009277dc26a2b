#include "k8s/cluster_config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "common/base64.h"
#include "common/error.h"

namespace kobs::k8s {
namespace {

namespace fs = std::filesystem;

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Exception(ErrorCode::kBadConfig, "cannot read {}", path.string());
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// Base64 of PEM data (kubeconfig's *-data fields). Whitespace is ignored.
std::string base64Decode(std::string_view in, std::string_view field) {
  auto out = base64::decode(in, {.alphabet = base64::Alphabet::kStandard, .skip_whitespace = true});
  if (!out) throw Exception(ErrorCode::kBadConfig, "kubeconfig {}: invalid base64", field);
  return std::move(*out);
}

fs::path resolvePath(const fs::path& base, const std::string& p) {
  fs::path path(p);
  if (path.is_relative()) path = base / path;
  return path;
}

// Finds `name` in a kubeconfig list (clusters, users, contexts) and returns its inner map.
YAML::Node findNamed(const YAML::Node& list, const std::string& name, const char* inner, const fs::path& file) {
  if (list && list.IsSequence()) {
    for (const auto& entry : list)
      if (entry["name"] && entry["name"].as<std::string>() == name) return entry[inner];
  }
  throw Exception(ErrorCode::kBadConfig, "kubeconfig {}: no {} named '{}'", file.string(), inner, name);
}

std::string str(const YAML::Node& node, const char* key) {
  return node && node[key] && node[key].IsScalar() ? node[key].as<std::string>() : std::string();
}

}  // namespace

std::string processEnv(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

ClusterConfig inClusterConfig(const InClusterPaths& paths, const GetEnv& env) {
  std::string host = env("KUBERNETES_SERVICE_HOST");
  std::string port = env("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty())
    throw Exception(ErrorCode::kBadConfig, "not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
  if (!fs::exists(paths.token))
    throw Exception(ErrorCode::kBadConfig, "not in a cluster: no service account token at {}", paths.token.string());
  ClusterConfig config;
  // IPv6 service hosts need brackets in a URL.
  bool v6 = host.find(':') != std::string::npos;
  config.server = fmt::format("https://{}{}{}:{}", v6 ? "[" : "", host, v6 ? "]" : "", port);
  config.ca_pem = readFile(paths.ca);
  config.token = std::make_shared<FileTokenSource>(paths.token, paths.token_recheck);
  if (fs::exists(paths.ns)) config.default_namespace = trim(readFile(paths.ns));
  config.source = "in-cluster";
  return config;
}

ClusterConfig loadKubeconfig(const fs::path& path, const std::string& context_name) {
  YAML::Node root;
  try {
    root = YAML::Load(readFile(path));
  } catch (const YAML::Exception& e) {
    throw Exception(ErrorCode::kBadConfig, "kubeconfig {}: {}", path.string(), e.what());
  }
  const fs::path base = path.parent_path();
  std::string ctx_name = context_name.empty() ? str(root, "current-context") : context_name;
  if (ctx_name.empty()) throw Exception(ErrorCode::kBadConfig, "kubeconfig {}: no current-context", path.string());
  YAML::Node ctx = findNamed(root["contexts"], ctx_name, "context", path);
  YAML::Node cluster = findNamed(root["clusters"], str(ctx, "cluster"), "cluster", path);
  YAML::Node user;
  if (!str(ctx, "user").empty()) user = findNamed(root["users"], str(ctx, "user"), "user", path);

  ClusterConfig config;
  config.source = path.string();
  config.server = str(cluster, "server");
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  if (config.server.empty()) throw Exception(ErrorCode::kBadConfig, "kubeconfig {}: cluster has no server", path.string());
  config.default_namespace = str(ctx, "namespace");
  config.tls_server_name = str(cluster, "tls-server-name");
  config.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();
  if (auto d = str(cluster, "certificate-authority-data"); !d.empty())
    config.ca_pem = base64Decode(d, "certificate-authority-data");
  else if (auto f = str(cluster, "certificate-authority"); !f.empty())
    config.ca_pem = readFile(resolvePath(base, f));

  if (user) {
    if (auto d = str(user, "client-certificate-data"); !d.empty())
      config.client_cert_pem = base64Decode(d, "client-certificate-data");
    else if (auto f = str(user, "client-certificate"); !f.empty())
      config.client_cert_pem = readFile(resolvePath(base, f));
    if (auto d = str(user, "client-key-data"); !d.empty())
      config.client_key_pem = base64Decode(d, "client-key-data");
    else if (auto f = str(user, "client-key"); !f.empty())
      config.client_key_pem = readFile(resolvePath(base, f));
    if (config.client_cert_pem.empty() != config.client_key_pem.empty())
      throw Exception(ErrorCode::kBadConfig, "kubeconfig {}: client certificate and key must both be set", path.string());

    if (auto t = str(user, "token"); !t.empty()) {
      config.token = std::make_shared<StaticTokenSource>(t);
    } else if (auto f = str(user, "tokenFile"); !f.empty()) {
      config.token = std::make_shared<FileTokenSource>(resolvePath(base, f));
    } else if (YAML::Node exec = user["exec"]; exec && exec.IsMap()) {
      ExecConfig e;
      e.api_version = str(exec, "apiVersion");
      if (e.api_version != "client.authentication.k8s.io/v1" && e.api_version != "client.authentication.k8s.io/v1beta1")
        throw Exception(ErrorCode::kBadConfig, "kubeconfig {}: exec apiVersion '{}' is not supported", path.string(),
                        e.api_version);
      e.command = str(exec, "command");
      if (e.command.empty()) throw Exception(ErrorCode::kBadConfig, "kubeconfig {}: exec has no command", path.string());
      if (exec["args"])
        for (const auto& a : exec["args"]) e.args.push_back(a.as<std::string>());
      if (exec["env"])
        for (const auto& kv : exec["env"]) e.env.emplace_back(str(kv, "name"), str(kv, "value"));
      e.base_dir = base;
      config.token = std::make_shared<ExecTokenSource>(std::move(e));
    } else if (user["auth-provider"]) {
      throw Exception(ErrorCode::kBadConfig, "kubeconfig {}: auth-provider is not supported, use an exec plugin",
                      path.string());
    }
  }
  return config;
}

ClusterConfig resolveClusterConfig(const ResolveOptions& options) {
  if (!options.kubeconfig.empty()) return loadKubeconfig(options.kubeconfig, options.context);
  if (std::string list = options.env("KUBECONFIG"); !list.empty()) {
    std::string first = list.substr(0, list.find(':'));
    if (!first.empty()) return loadKubeconfig(first, options.context);
  }
  if (!options.env("KUBERNETES_SERVICE_HOST").empty()) return inClusterConfig(options.in_cluster, options.env);
  std::string home = options.env("HOME");
  fs::path fallback = fs::path(home.empty() ? "." : home) / ".kube" / "config";
  if (fs::exists(fallback)) return loadKubeconfig(fallback, options.context);
  throw Exception(ErrorCode::kBadConfig,
                  "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run in a cluster, or create {}",
                  fallback.string());
}

}  // namespace kobs::k8s
