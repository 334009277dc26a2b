#include "support/real_apiserver.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <curl/curl.h>

#include "support/temp_dir.h"

namespace kobs::testing {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Pinned in scripts/setup-k8s.sh; CMake reads them from there.
constexpr const char* kEtcdVersion = KOBS_ETCD_VERSION;
constexpr const char* kKubeVersion = KOBS_KUBE_VERSION;

uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string randomHex(size_t bytes) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    s += kHex[v >> 4];
    s += kHex[v & 15];
  }
  return s;
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

size_t appendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

KubeResponse curlRequest(const std::string& url, const std::string& method, const std::string& body,
                         const std::vector<std::string>& headers, const std::string& ca_file) {
  KubeResponse r;
  CURL* curl = curl_easy_init();
  if (!curl) {
    r.error = "curl_easy_init failed";
    return r;
  }
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  if (method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  if (method != "GET" && method != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  } else {
    r.error = curl_easy_strerror(code);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return r;
}

// Runs a short helper (openssl) to completion; throws with its output on failure.
void runTool(const std::vector<std::string>& args, const fs::path& log) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(args[0] + " " + args[1] + " failed: " + readFile(log));
}

std::string nowMicroTime() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(us));
  return out;
}

std::string nowTime() { return nowMicroTime().substr(0, 19) + "Z"; }

json containerSpec() {
  return {{"containers", json::array({{{"name", "app"}, {"image", "nginx:1.25"}}})}};
}

}  // namespace

json KubeResponse::json() const { return nlohmann::json::parse(body); }

RealApiServerPaths RealApiServer::binaries() {
  RealApiServerPaths p;
  if (const char* dir = std::getenv("KOBS_K8S_BIN_DIR"); dir && *dir) {
    p.etcd = fs::path(dir) / "etcd";
    p.kube_apiserver = fs::path(dir) / "kube-apiserver";
    p.kubectl = fs::path(dir) / "kubectl";
    return p;
  }
  const fs::path base = sourceDir() / "third_party/k8s";
  p.etcd = base / (std::string("etcd-") + kEtcdVersion) / "etcd";
  p.kube_apiserver = base / (std::string("kubernetes-") + kKubeVersion) / "kube-apiserver";
  p.kubectl = base / (std::string("kubernetes-") + kKubeVersion) / "kubectl";
  return p;
}

std::string RealApiServer::missingBinaries() {
  const auto p = binaries();
  std::string missing;
  for (const auto& f : {p.etcd, p.kube_apiserver}) {
    if (::access(f.c_str(), X_OK) != 0) missing += (missing.empty() ? "" : ", ") + f.string();
  }
  if (missing.empty()) return {};
  return "the real Kubernetes API server is not built (missing " + missing + "); build it with: " +
         (sourceDir() / "scripts/setup-k8s.sh").string() + "  (or run scripts/test-setup.sh)";
}

RealApiServer::RealApiServer() {
  if (auto missing = missingBinaries(); !missing.empty()) throw std::runtime_error(missing);
  bins_ = binaries();
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/kobs-k8s-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  dir_ = pattern;
  users_ = {{"admin", randomHex(16), {"system:masters"}},
            {"alice", randomHex(16), {"devs"}},
            {"bob", randomHex(16), {"devs", "ops"}},
            {"carol", randomHex(16), {}}};
  try {
    makePki();
    writeTokenFile();
    etcd_port_ = freePort();
    etcd_peer_port_ = freePort();
    etcd_metrics_port_ = freePort();
    api_port_ = freePort();
    writeKubeconfig();
    startEtcd();
    startApiServer();
  } catch (...) {
    stopProc(api_, true);
    stopProc(etcd_, true);
    std::error_code ec;
    if (!std::getenv("KOBS_KEEP_K8S_DIR")) fs::remove_all(dir_, ec);
    throw;
  }
}

RealApiServer::~RealApiServer() {
  stopProc(api_, false);
  stopProc(etcd_, true);
  std::error_code ec;
  if (!std::getenv("KOBS_KEEP_K8S_DIR")) fs::remove_all(dir_, ec);
}

std::string RealApiServer::url() const { return "https://127.0.0.1:" + std::to_string(api_port_); }
fs::path RealApiServer::caFile() const { return dir_ / "pki/apiserver.crt"; }
fs::path RealApiServer::kubeconfig() const { return dir_ / "kubeconfig"; }
std::string RealApiServer::etcdUrl() const { return "http://127.0.0.1:" + std::to_string(etcd_port_); }

const std::string& RealApiServer::tokenOf(const std::string& user) const {
  for (const auto& u : users_)
    if (u.name == user) return u.token;
  throw std::runtime_error("no such test user: " + user);
}

void RealApiServer::makePki() {
  const fs::path pki = dir_ / "pki";
  fs::create_directories(pki);
  const fs::path log = dir_ / "openssl.log";
  // The serving certificate is its own CA: clients trust exactly this file.
  runTool({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=kobs-test-apiserver",
           "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", (pki / "apiserver.key").string(), "-out",
           (pki / "apiserver.crt").string()},
          log);
  runTool({"openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
           (pki / "sa.key").string()},
          log);
  runTool({"openssl", "pkey", "-in", (pki / "sa.key").string(), "-pubout", "-out", (pki / "sa.pub").string()}, log);
  ca_pem_ = readFile(pki / "apiserver.crt");
}

void RealApiServer::writeTokenFile() {
  // token,user,uid,"group1,group2"
  std::ofstream out(dir_ / "tokens.csv");
  for (const auto& u : users_) {
    out << u.token << "," << u.name << ",uid-" << u.name;
    if (!u.groups.empty()) {
      out << ",\"";
      for (size_t i = 0; i < u.groups.size(); ++i) out << (i ? "," : "") << u.groups[i];
      out << "\"";
    }
    out << "\n";
  }
}

void RealApiServer::writeKubeconfig() {
  std::ofstream out(dir_ / "kubeconfig");
  out << "apiVersion: v1\nkind: Config\nclusters:\n- name: kobs-test\n  cluster:\n    server: " << url()
      << "\n    certificate-authority: " << caFile().string() << "\nusers:\n";
  for (const auto& u : users_) out << "- name: " << u.name << "\n  user:\n    token: " << u.token << "\n";
  out << "contexts:\n";
  for (const auto& u : users_)
    out << "- name: " << u.name << "\n  context:\n    cluster: kobs-test\n    user: " << u.name
        << "\n    namespace: default\n";
  out << "current-context: admin\n";
}

RealApiServer::Proc RealApiServer::spawn(const std::vector<std::string>& args, const fs::path& log) {
  Proc p;
  p.log = log;
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed for " + args[0]);
  if (pid == 0) {
    // A test binary that dies must not leave servers behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(1);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  p.pid = pid;
  return p;
}

void RealApiServer::stopProc(Proc& p, bool kill_hard) {
  if (p.pid <= 0) return;
  ::kill(p.pid, kill_hard ? SIGKILL : SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (::waitpid(p.pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(p.pid, SIGKILL);
      ::waitpid(p.pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  p.pid = -1;
}

std::string RealApiServer::logTail(const Proc& p) const {
  std::string s = readFile(p.log);
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

void RealApiServer::waitReady(const std::string& what, const std::function<bool()>& ready, Proc& p) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(p.pid, &status, WNOHANG) == p.pid) {
      p.pid = -1;
      throw std::runtime_error(what + " exited during start-up; its log (" + p.log.string() + ") ends:\n" +
                               logTail(p));
    }
    if (ready()) return;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error(what + " was not ready within 60 s; its log ends:\n" + logTail(p));
}

void RealApiServer::startEtcd() {
  const std::string client = etcdUrl();
  const std::string peer = "http://127.0.0.1:" + std::to_string(etcd_peer_port_);
  etcd_ = spawn({bins_.etcd.string(), "--name=kobs-test", "--data-dir=" + (dir_ / "etcd").string(),
                 "--listen-client-urls=" + client, "--advertise-client-urls=" + client,
                 "--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
                 "--initial-cluster=kobs-test=" + peer,
                 "--listen-metrics-urls=http://127.0.0.1:" + std::to_string(etcd_metrics_port_),
                 // Throwaway data: no fsync keeps writes cheap on a shared disk.
                 "--unsafe-no-fsync=true", "--log-level=warn"},
                dir_ / "etcd.log");
  waitReady("etcd", [&] { return curlRequest(client + "/health", "GET", "", {}, "").status == 200; }, etcd_);
}

void RealApiServer::startApiServer() {
  const fs::path pki = dir_ / "pki";
  fs::create_directories(dir_ / "apiserver-certs");
  api_ = spawn({bins_.kube_apiserver.string(), "--etcd-servers=" + etcdUrl(),
                "--secure-port=" + std::to_string(api_port_), "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1", "--cert-dir=" + (dir_ / "apiserver-certs").string(),
                "--tls-cert-file=" + (pki / "apiserver.crt").string(),
                "--tls-private-key-file=" + (pki / "apiserver.key").string(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file=" + (pki / "sa.pub").string(),
                "--service-account-signing-key-file=" + (pki / "sa.key").string(),
                "--token-auth-file=" + (dir_ / "tokens.csv").string(), "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                // Otherwise it tries every 10 s to put a loopback IP into the
                // `kubernetes` Endpoints and logs that it cannot.
                "--endpoint-reconciler-type=none"},
               dir_ / "kube-apiserver.log");
  const std::string ready = url() + "/readyz";
  const std::string auth = "Authorization: Bearer " + adminToken();
  const std::string ca = caFile().string();
  waitReady("kube-apiserver", [&] { return curlRequest(ready, "GET", "", {auth}, ca).status == 200; }, api_);
}

void RealApiServer::stopApiServer(bool kill_hard) { stopProc(api_, kill_hard); }

void RealApiServer::restartApiServer(bool kill_hard) {
  stopApiServer(kill_hard);
  startApiServer();
}

int64_t RealApiServer::etcdRevision() {
  // Any range answers with the store's current revision in its header.
  auto r = curlRequest(etcdUrl() + "/v3/kv/range", "POST", R"({"key":"L3JlZ2lzdHJ5","limit":1})", {}, "");
  if (r.status != 200) throw std::runtime_error("etcd range failed: " + std::to_string(r.status) + " " + r.body + r.error);
  return std::stoll(r.json()["header"]["revision"].get<std::string>());
}

int64_t RealApiServer::compactEtcd() {
  const int64_t rev = etcdRevision();
  auto r = curlRequest(etcdUrl() + "/v3/kv/compaction", "POST",
                       json{{"revision", std::to_string(rev)}, {"physical", true}}.dump(), {}, "");
  if (r.status != 200) throw std::runtime_error("etcd compaction failed: " + std::to_string(r.status) + " " + r.body);
  return rev;
}

KubeResponse RealApiServer::request(const std::string& method, const std::string& path, const std::string& body,
                                    const std::string& token) const {
  std::vector<std::string> headers{"Authorization: Bearer " + (token.empty() ? adminToken() : token),
                                   "Accept: application/json"};
  if (!body.empty())
    headers.push_back(method == "PATCH" ? "Content-Type: application/merge-patch+json"
                                        : "Content-Type: application/json");
  return curlRequest(url() + path, method, body, headers, caFile().string());
}

namespace {
json checkedJson(const KubeResponse& r, const std::string& what) {
  if (r.status < 200 || r.status >= 300)
    throw std::runtime_error(what + " answered " + std::to_string(r.status) + ": " + r.body + r.error);
  return r.body.empty() ? json::object() : json::parse(r.body);
}
}  // namespace

json RealApiServer::create(const std::string& path, const json& object) const {
  return checkedJson(request("POST", path, object.dump()), "POST " + path);
}
json RealApiServer::get(const std::string& path) const { return checkedJson(request("GET", path), "GET " + path); }
json RealApiServer::update(const std::string& path, const json& object) const {
  return checkedJson(request("PUT", path, object.dump()), "PUT " + path);
}
void RealApiServer::remove(const std::string& path) const { checkedJson(request("DELETE", path), "DELETE " + path); }

void RealApiServer::createNamespaceNamed(const std::string& ns) {
  create("/api/v1/namespaces", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  // No controller-manager: the ServiceAccount admission plugin refuses Pods
  // until the namespace's default ServiceAccount exists.
  create("/api/v1/namespaces/" + ns + "/serviceaccounts",
         {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "default"}}}});
}

std::string RealApiServer::createNamespace(const std::string& prefix) {
  std::string ns = prefix + "-" + std::to_string(++ns_seq_);
  createNamespaceNamed(ns);
  return ns;
}

json RealApiServer::ownerRef(const json& object) {
  return {{"apiVersion", object["apiVersion"]}, {"kind", object["kind"]},
          {"name", object["metadata"]["name"]},  {"uid", object["metadata"]["uid"]},
          {"controller", true}};
}

json RealApiServer::createPod(const std::string& ns, const std::string& name, const json& labels, const json& owner) {
  json meta = {{"name", name}};
  if (!labels.is_null() && !labels.empty()) meta["labels"] = labels;
  if (!owner.is_null() && !owner.empty()) meta["ownerReferences"] = json::array({owner});
  return create("/api/v1/namespaces/" + ns + "/pods",
                {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", meta}, {"spec", containerSpec()}});
}

RealApiServer::Workload RealApiServer::createDeployment(const std::string& ns, const std::string& name,
                                                        const json& labels, int pods) {
  Workload w;
  const json selector = {{"app", name}};
  json dmeta = {{"name", name}};
  if (!labels.is_null() && !labels.empty()) dmeta["labels"] = labels;
  w.deployment = create("/apis/apps/v1/namespaces/" + ns + "/deployments",
                        {{"apiVersion", "apps/v1"},
                         {"kind", "Deployment"},
                         {"metadata", dmeta},
                         {"spec",
                          {{"replicas", pods},
                           {"selector", {{"matchLabels", selector}}},
                           {"template", {{"metadata", {{"labels", selector}}}, {"spec", containerSpec()}}}}}});
  // What the deployment controller would create.
  const std::string hash = "5d8f7c9b6";
  json rs_labels = selector;
  rs_labels["pod-template-hash"] = hash;
  w.replicaset = create(
      "/apis/apps/v1/namespaces/" + ns + "/replicasets",
      {{"apiVersion", "apps/v1"},
       {"kind", "ReplicaSet"},
       {"metadata", {{"name", name + "-" + hash}, {"labels", rs_labels}, {"ownerReferences", {ownerRef(w.deployment)}}}},
       {"spec",
        {{"replicas", pods},
         {"selector", {{"matchLabels", rs_labels}}},
         {"template", {{"metadata", {{"labels", rs_labels}}}, {"spec", containerSpec()}}}}}});
  for (int i = 0; i < pods; ++i)
    w.pods.push_back(createPod(ns, name + "-" + hash + "-" + randomHex(3).substr(0, 5), rs_labels,
                               ownerRef(w.replicaset)));
  return w;
}

void RealApiServer::installCompositionCrd() {
  if (crd_installed_) return;
  const std::string name = "fireworksapps.composition.krateo.io";
  auto existing = request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name);
  if (existing.status == 404) {
    const json schema = {{"openAPIV3Schema",
                          {{"type", "object"},
                           {"properties",
                            {{"spec", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}},
                             {"status", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}}}};
    create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
           {{"apiVersion", "apiextensions.k8s.io/v1"},
            {"kind", "CustomResourceDefinition"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"group", "composition.krateo.io"},
              {"scope", "Namespaced"},
              {"names",
               {{"plural", "fireworksapps"}, {"singular", "fireworksapp"}, {"kind", "FireworksApp"},
                {"listKind", "FireworksAppList"}}},
              {"versions",
               json::array({{{"name", "v1-2-0"},
                             {"served", true},
                             {"storage", true},
                             {"schema", schema},
                             {"subresources", {{"status", json::object()}}}}})}}}});
  }
  // Established, and its version served (discovery and REST paths answer).
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    auto crd = request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name);
    bool established = false;
    if (crd.status == 200)
      for (const auto& c : crd.json()["status"].value("conditions", json::array()))
        if (c.value("type", "") == "Established" && c.value("status", "") == "True") established = true;
    if (established && request("GET", "/apis/composition.krateo.io/v1-2-0").status == 200 &&
        request("GET", "/apis/composition.krateo.io/v1-2-0/fireworksapps").status == 200)
      break;
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("CRD " + name + " never became established");
    std::this_thread::sleep_for(50ms);
  }
  crd_installed_ = true;
}

json RealApiServer::createComposition(const std::string& ns, const std::string& name, const json& labels) {
  installCompositionCrd();
  json meta = {{"name", name}};
  if (!labels.is_null() && !labels.empty()) meta["labels"] = labels;
  return create("/apis/composition.krateo.io/v1-2-0/namespaces/" + ns + "/fireworksapps",
                {{"apiVersion", kCompositionApiVersion},
                 {"kind", "FireworksApp"},
                 {"metadata", meta},
                 {"spec", {{"app", {{"service", {{"port", 31180}, {"type", "NodePort"}}}}}}}});
}

json RealApiServer::createEvent(const std::string& ns, const std::string& name, const json& involved,
                                const std::string& reason, const std::string& message, const std::string& type) {
  const auto& m = involved["metadata"];
  const std::string now = nowTime();
  return create("/api/v1/namespaces/" + ns + "/events",
                {{"apiVersion", "v1"},
                 {"kind", "Event"},
                 {"metadata", {{"name", name}, {"namespace", ns}}},
                 {"involvedObject",
                  {{"apiVersion", involved["apiVersion"]}, {"kind", involved["kind"]}, {"name", m["name"]},
                   {"namespace", m.value("namespace", ns)}, {"uid", m["uid"]},
                   {"resourceVersion", m["resourceVersion"]}}},
                 {"reason", reason},
                 {"message", message},
                 {"type", type},
                 {"source", {{"component", "kubelet"}, {"host", "node-1"}}},
                 {"firstTimestamp", now},
                 {"lastTimestamp", now},
                 {"count", 1}});
}

json RealApiServer::createEventV1(const std::string& ns, const std::string& name, const json& regarding,
                                  const std::string& reason, const std::string& note, const std::string& type) {
  const auto& m = regarding["metadata"];
  return create("/apis/events.k8s.io/v1/namespaces/" + ns + "/events",
                {{"apiVersion", "events.k8s.io/v1"},
                 {"kind", "Event"},
                 {"metadata", {{"name", name}, {"namespace", ns}}},
                 {"eventTime", nowMicroTime()},
                 {"reportingController", "kobs.test/controller"},
                 {"reportingInstance", "kobs-test-1"},
                 {"action", "Reconcile"},
                 {"reason", reason},
                 {"note", note},
                 {"type", type},
                 {"regarding",
                  {{"apiVersion", regarding["apiVersion"]}, {"kind", regarding["kind"]}, {"name", m["name"]},
                   {"namespace", m.value("namespace", ns)}, {"uid", m["uid"]}}}});
}

json RealApiServer::createLease(const std::string& ns, const std::string& name, const std::string& holder,
                                int duration_seconds) {
  const std::string now = nowMicroTime();
  return create("/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases",
                {{"apiVersion", "coordination.k8s.io/v1"},
                 {"kind", "Lease"},
                 {"metadata", {{"name", name}}},
                 {"spec",
                  {{"holderIdentity", holder},
                   {"leaseDurationSeconds", duration_seconds},
                   {"acquireTime", now},
                   {"renewTime", now},
                   {"leaseTransitions", 0}}}});
}

json RealApiServer::createSecret(const std::string& ns, const std::string& name, const json& string_data) {
  return create("/api/v1/namespaces/" + ns + "/secrets", {{"apiVersion", "v1"},
                                                          {"kind", "Secret"},
                                                          {"metadata", {{"name", name}}},
                                                          {"type", "Opaque"},
                                                          {"stringData", string_data}});
}

void RealApiServer::grant(const std::string& ns, const std::string& subject_kind, const std::string& subject,
                          const std::vector<std::string>& verbs, const std::vector<std::string>& resources,
                          const std::string& api_group) {
  const std::string name = "kobs-test-grant-" + std::to_string(++grant_seq_);
  const bool cluster = ns.empty();
  const json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                     {"kind", cluster ? "ClusterRole" : "Role"},
                     {"metadata", {{"name", name}}},
                     {"rules", json::array({{{"apiGroups", {api_group}}, {"resources", resources}, {"verbs", verbs}}})}};
  const json binding = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", cluster ? "ClusterRoleBinding" : "RoleBinding"},
      {"metadata", {{"name", name}}},
      {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", cluster ? "ClusterRole" : "Role"}, {"name", name}}},
      {"subjects", json::array({{{"kind", subject_kind}, {"name", subject}, {"apiGroup", "rbac.authorization.k8s.io"}}})}};
  const std::string base = cluster ? "/apis/rbac.authorization.k8s.io/v1/" : "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/";
  create(base + (cluster ? "clusterroles" : "roles"), role);
  create(base + (cluster ? "clusterrolebindings" : "rolebindings"), binding);
  // RBAC is served from informers: wait until the authorizer sees the binding,
  // so a test's first question gets the new answer.
  json spec = {{"resourceAttributes",
                {{"namespace", ns}, {"verb", verbs.front()}, {"group", api_group}, {"resource", resources.front()}}}};
  if (subject_kind == "Group") {
    spec["user"] = "kobs-test-probe";
    spec["groups"] = {subject};
  } else {
    spec["user"] = subject;
  }
  const json review = {{"apiVersion", "authorization.k8s.io/v1"}, {"kind", "SubjectAccessReview"}, {"spec", spec}};
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!create("/apis/authorization.k8s.io/v1/subjectaccessreviews", review)["status"].value("allowed", false)) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("RBAC grant " + name + " never took effect");
    std::this_thread::sleep_for(20ms);
  }
}

// --- environment ---

namespace {
std::unique_ptr<RealApiServer>& sharedServer() {
  static std::unique_ptr<RealApiServer> server;
  return server;
}
}  // namespace

void RealApiServerEnvironment::SetUp() {
  try {
    sharedServer() = std::make_unique<RealApiServer>();
  } catch (const std::exception& e) {
    GTEST_FAIL() << e.what();
  }
}

void RealApiServerEnvironment::TearDown() { sharedServer().reset(); }

RealApiServer& RealApiServerEnvironment::server() {
  if (!sharedServer()) throw std::runtime_error("the real API server did not start (see the environment's failure)");
  return *sharedServer();
}

}  // namespace kobs::testing
