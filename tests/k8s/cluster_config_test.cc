#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "common/error.h"
#include "k8s/api_client.h"
#include "k8s/cluster_config.h"
#include "support/fake_kube_apiserver.h"
#include "support/temp_dir.h"

namespace kobs::k8s {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string b64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(t[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(t[((val << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

GetEnv envOf(std::map<std::string, std::string> vars) {
  return [vars](const char* name) {
    auto it = vars.find(name);
    return it == vars.end() ? std::string() : it->second;
  };
}

const char* kCa = "-----BEGIN CERTIFICATE-----\nCAFAKE\n-----END CERTIFICATE-----\n";
const char* kCert = "-----BEGIN CERTIFICATE-----\nCLIENTFAKE\n-----END CERTIFICATE-----\n";
const char* kKey = "-----BEGIN PRIVATE KEY-----\nKEYFAKE\n-----END PRIVATE KEY-----\n";

TEST(Kubeconfig, CurrentContextWithTokenAndNamespace) {
  testing::TempDir dir;
  write(dir.path() / "config", R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: dev
  cluster: {server: "https://dev:6443"}
- name: prod
  cluster:
    server: "https://prod.example:6443/"
    certificate-authority-data: )" + b64(kCa) + R"(
contexts:
- name: dev
  context: {cluster: dev, user: dev-user}
- name: prod
  context: {cluster: prod, user: prod-user, namespace: krateo-system}
users:
- name: dev-user
  user: {token: dev-token}
- name: prod-user
  user: {token: prod-token}
)");
  auto c = loadKubeconfig(dir.path() / "config");
  EXPECT_EQ(c.server, "https://prod.example:6443");
  EXPECT_EQ(c.ca_pem, kCa);
  EXPECT_EQ(c.default_namespace, "krateo-system");
  ASSERT_TRUE(c.token);
  EXPECT_EQ(c.token->token(), "prod-token");
  EXPECT_FALSE(c.insecure_skip_tls_verify);

  auto d = loadKubeconfig(dir.path() / "config", "dev");
  EXPECT_EQ(d.server, "https://dev:6443");
  EXPECT_EQ(d.token->token(), "dev-token");
  EXPECT_THROW(loadKubeconfig(dir.path() / "config", "nope"), Exception);
}

TEST(Kubeconfig, ClientCertificateDataAndInsecure) {
  testing::TempDir dir;
  write(dir.path() / "config", R"(current-context: c
clusters:
- name: k
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
contexts:
- name: c
  context: {cluster: k, user: u}
users:
- name: u
  user:
    client-certificate-data: )" + b64(kCert) + R"(
    client-key-data: )" + b64(kKey) + "\n");
  auto c = loadKubeconfig(dir.path() / "config");
  EXPECT_EQ(c.client_cert_pem, kCert);
  EXPECT_EQ(c.client_key_pem, kKey);
  EXPECT_TRUE(c.insecure_skip_tls_verify);
  EXPECT_TRUE(c.ca_pem.empty());
  EXPECT_FALSE(c.token);
}

TEST(Kubeconfig, FilePathsResolveAgainstTheKubeconfigDirectory) {
  testing::TempDir dir;
  fs::create_directories(dir.path() / "kube" / "pki");
  write(dir.path() / "kube" / "pki" / "ca.crt", kCa);
  write(dir.path() / "kube" / "pki" / "client.crt", kCert);
  write(dir.path() / "kube" / "pki" / "client.key", kKey);
  write(dir.path() / "kube" / "token", "file-token\n");
  write(dir.path() / "kube" / "config", R"(current-context: c
clusters:
- name: k
  cluster: {server: "https://k:443", certificate-authority: pki/ca.crt}
contexts:
- name: c
  context: {cluster: k, user: u}
users:
- name: u
  user: {client-certificate: pki/client.crt, client-key: pki/client.key, tokenFile: token}
)");
  auto c = loadKubeconfig(dir.path() / "kube" / "config");
  EXPECT_EQ(c.ca_pem, kCa);
  EXPECT_EQ(c.client_cert_pem, kCert);
  EXPECT_EQ(c.client_key_pem, kKey);
  EXPECT_EQ(c.token->token(), "file-token");
}

TEST(Kubeconfig, CertificateWithoutKeyIsRejected) {
  testing::TempDir dir;
  write(dir.path() / "config", R"(current-context: c
clusters: [{name: k, cluster: {server: "https://k"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {client-certificate-data: )" + b64(kCert) + "}}]\n");
  EXPECT_THROW(loadKubeconfig(dir.path() / "config"), Exception);
}

std::string execKubeconfig(const std::string& api_version, const std::string& script) {
  return R"(current-context: c
clusters: [{name: k, cluster: {server: "https://k"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users:
- name: u
  user:
    exec:
      apiVersion: )" + api_version + R"(
      command: ./)" + script + R"(
      args: ["--cluster", "prod"]
      env: [{name: PLUGIN_SECRET, value: s3cret}]
)";
}

TEST(Kubeconfig, ExecPluginTokenIsCachedUntilExpiry) {
  testing::TempDir dir;
  // Prints a token made of its argument, an env var from the kubeconfig and
  // the API version kubectl passes in KUBERNETES_EXEC_INFO; counts its runs.
  write(dir.path() / "plugin.sh", R"(#!/bin/sh
echo run >> "$(dirname "$0")/runs"
case "$KUBERNETES_EXEC_INFO" in *v1beta1*) v=v1beta1;; *) v=v1;; esac
echo "{\"apiVersion\":\"client.authentication.k8s.io/$v\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-$2-$PLUGIN_SECRET-$v\",\"expirationTimestamp\":\"$EXPIRY\"}}"
)");
  fs::permissions(dir.path() / "plugin.sh", fs::perms::owner_all);
  write(dir.path() / "config", execKubeconfig("client.authentication.k8s.io/v1", "plugin.sh"));
  auto runs = [&] {
    std::ifstream in(dir.path() / "runs");
    int n = 0;
    std::string line;
    while (std::getline(in, line)) ++n;
    return n;
  };

  ::setenv("EXPIRY", "2999-01-01T00:00:00Z", 1);
  auto c = loadKubeconfig(dir.path() / "config");
  EXPECT_EQ(c.token->token(), "tok-prod-s3cret-v1");
  EXPECT_EQ(c.token->token(), "tok-prod-s3cret-v1");
  EXPECT_EQ(runs(), 1);
  c.token->invalidate();  // as after a 401
  EXPECT_EQ(c.token->token(), "tok-prod-s3cret-v1");
  EXPECT_EQ(runs(), 2);

  ::setenv("EXPIRY", "2000-01-01T00:00:00Z", 1);  // already expired: runs every time
  auto expired = loadKubeconfig(dir.path() / "config");
  expired.token->token();
  expired.token->token();
  EXPECT_EQ(runs(), 4);

  write(dir.path() / "config", execKubeconfig("client.authentication.k8s.io/v1beta1", "plugin.sh"));
  ::setenv("EXPIRY", "2999-01-01T00:00:00Z", 1);
  EXPECT_EQ(loadKubeconfig(dir.path() / "config").token->token(), "tok-prod-s3cret-v1beta1");
  ::unsetenv("EXPIRY");
}

TEST(Kubeconfig, FailingExecPluginThrows) {
  testing::TempDir dir;
  write(dir.path() / "bad.sh", "#!/bin/sh\necho broken >&2\nexit 3\n");
  fs::permissions(dir.path() / "bad.sh", fs::perms::owner_all);
  write(dir.path() / "config", execKubeconfig("client.authentication.k8s.io/v1", "bad.sh"));
  auto c = loadKubeconfig(dir.path() / "config");
  try {
    c.token->token();
    FAIL() << "expected an exception";
  } catch (const Exception& e) {
    EXPECT_NE(std::string(e.what()).find("broken"), std::string::npos) << e.what();
  }
  write(dir.path() / "config", execKubeconfig("client.authentication.k8s.io/v1alpha1", "bad.sh"));
  EXPECT_THROW(loadKubeconfig(dir.path() / "config"), Exception);
}

TEST(ResolveClusterConfig, LookupOrder) {
  testing::TempDir dir;
  auto kc = [&](const std::string& name, const std::string& server) {
    write(dir.path() / name, "current-context: c\nclusters: [{name: k, cluster: {server: \"" + server +
                                 "\"}}]\ncontexts: [{name: c, context: {cluster: k}}]\n");
    return (dir.path() / name).string();
  };
  std::string explicit_path = kc("explicit", "https://explicit");
  std::string env_path = kc("env", "https://env");
  fs::create_directories(dir.path() / "home" / ".kube");
  kc("home/.kube/config", "https://home");
  write(dir.path() / "token", "sa-token");
  write(dir.path() / "ca.crt", kCa);
  ResolveOptions o;
  o.in_cluster.token = dir.path() / "token";
  o.in_cluster.ca = dir.path() / "ca.crt";
  o.in_cluster.ns = dir.path() / "namespace";
  std::map<std::string, std::string> env = {{"KUBECONFIG", env_path + ":/nonexistent"},
                                            {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"},
                                            {"HOME", (dir.path() / "home").string()}};
  o.env = envOf(env);
  o.kubeconfig = explicit_path;
  EXPECT_EQ(resolveClusterConfig(o).server, "https://explicit");
  o.kubeconfig.clear();
  EXPECT_EQ(resolveClusterConfig(o).server, "https://env");
  env.erase("KUBECONFIG");
  o.env = envOf(env);
  auto in_cluster = resolveClusterConfig(o);
  EXPECT_EQ(in_cluster.server, "https://10.0.0.1:443");
  EXPECT_EQ(in_cluster.source, "in-cluster");
  EXPECT_EQ(in_cluster.token->token(), "sa-token");
  EXPECT_EQ(in_cluster.ca_pem, kCa);
  env.erase("KUBERNETES_SERVICE_HOST");
  o.env = envOf(env);
  EXPECT_EQ(resolveClusterConfig(o).server, "https://home");
  env["HOME"] = (dir.path() / "nohome").string();
  o.env = envOf(env);
  EXPECT_THROW(resolveClusterConfig(o), Exception);
}

TEST(InCluster, RotatedTokenIsReadAfterTheRecheckInterval) {
  testing::TempDir dir;
  InClusterPaths paths{dir.path() / "token", dir.path() / "ca.crt", dir.path() / "namespace", std::chrono::milliseconds(0)};
  write(paths.token, "token-a\n");
  write(paths.ca, kCa);
  write(paths.ns, "krateo-system");
  auto env = envOf({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}});
  auto c = inClusterConfig(paths, env);
  EXPECT_EQ(c.server, "https://[fd00::1]:6443");
  EXPECT_EQ(c.default_namespace, "krateo-system");
  EXPECT_EQ(c.token->token(), "token-a");
  write(paths.token, "token-b\n");
  fs::last_write_time(paths.token, fs::last_write_time(paths.token) + std::chrono::seconds(2));
  EXPECT_EQ(c.token->token(), "token-b");
  EXPECT_THROW(inClusterConfig(paths, envOf({})), Exception);
}

// Fake: a real kube-apiserver reads its static token file once at start, so
// it cannot start refusing the old token mid-test the way a rotation does.
TEST(InCluster, RotationIsPickedUpAfter401AgainstTheServer) {
  testing::TempDir dir;
  testing::FakeKubeApiServerOptions so;
  so.token = "token-a";
  testing::FakeKubeApiServer server(so);
  server.start();
  // A long recheck interval: only the 401 makes the client re-read the file.
  InClusterPaths paths{dir.path() / "token", dir.path() / "ca.crt", dir.path() / "namespace", std::chrono::hours(1)};
  write(paths.token, "token-a");
  write(paths.ca, "");
  ClusterConfig c = inClusterConfig(paths, envOf({{"KUBERNETES_SERVICE_HOST", "x"}, {"KUBERNETES_SERVICE_PORT", "1"}}));
  c.server = server.url();
  ApiClient api(c);
  EXPECT_TRUE(api.list(coreEvents(), "default").items.empty());
  EXPECT_EQ(server.lastAuthorization(), "Bearer token-a");

  write(paths.token, "token-b");
  fs::last_write_time(paths.token, fs::last_write_time(paths.token) + std::chrono::seconds(2));
  server.setToken("token-b");
  EXPECT_NO_THROW(api.list(coreEvents(), "default"));
  EXPECT_EQ(server.lastAuthorization(), "Bearer token-b");
  EXPECT_EQ(server.unauthorizedRequests(), 1u);
}

}  // namespace
}  // namespace kobs::k8s
