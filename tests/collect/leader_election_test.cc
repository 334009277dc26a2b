// Leader election as users run it: two `kobs all` processes watching the same
// namespace of a real kube-apiserver (tests/support/real_apiserver), electing
// through a real coordination.k8s.io/v1 Lease. One stores events; when it is
// killed (-9, no release), the other takes the expired lease and carries on.
// Also `--kubeconfig` / `--context` as kubectl users spell them.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <mutex>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/http_client.h"
#include "support/real_apiserver.h"
#include "support/temp_dir.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::collect {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace ht = kobs::http::testing;
using kobs::testing::RealApiServer;

RealApiServer& kube() { return kobs::testing::RealApiServerEnvironment::server(); }

bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 60s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

// One `kobs all` on the embedded store, stdout read until it names its port.
class Kobs {
 public:
  explicit Kobs(std::vector<std::string> extra) {
    const std::string bin = (kobs::testing::binaryDir() / "src/app/kobs").string();
    // Listeners on free or no ports: two of these run at once, beside other tests.
    std::vector<std::string> args{bin,   "all",   "--data-dir",        dir_.str(), "--set", "http.listen=127.0.0.1:0",
                                  "--set", "serve.clickhouse_listen=", "--set",    "otlp.http_listen=",
                                  "--set", "otlp.grpc_listen=", "--set", "mcp.listen="};
    args.insert(args.end(), extra.begin(), extra.end());
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      int err = ::open((dir_.path() / "stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (err >= 0) ::dup2(err, 2);
      ::close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      _exit(127);
    }
    ::close(out[1]);
    out_ = ::fdopen(out[0], "r");
    // The log goes on after the address line; a thread drains it so kobs never blocks on a full pipe.
    std::promise<int> port;
    auto port_future = port.get_future();
    reader_ = std::thread([this, p = std::move(port)]() mutable {
      char line[1024];
      bool set = false;
      const std::regex listening(R"(listening on http://[0-9.]+:([0-9]+))");
      while (std::fgets(line, sizeof line, out_)) {
        {
          std::lock_guard lock(mutex_);
          stdout_ += line;
        }
        std::cmatch m;
        if (!set && std::regex_search(line, m, listening)) {
          p.set_value(std::stoi(m[1]));
          set = true;
        }
      }
      if (!set) p.set_value(0);
    });
    port_ = port_future.get();
  }
  ~Kobs() {
    kill(SIGKILL);
    reader_.join();
    std::fclose(out_);
  }
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  // Everything kobs wrote so far (stdout, then stderr).
  std::string stderrLog() const {
    std::ifstream in(dir_.path() / "stderr.log");
    std::lock_guard lock(mutex_);
    return stdout_ + std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The value of a metric (its first series), -1 when absent.
  double metric(const std::string& name) {
    ht::Client c;
    auto r = c.fetch(ht::url(uint16_t(port_), "/metrics"));
    std::regex re("(^|\n)" + name + "(\\{[^}]*\\})? ([0-9.e+-]+)");
    std::smatch m;
    if (r.status != 200 || !std::regex_search(r.body, m, re)) return -1;
    return std::stod(m[3]);
  }

 private:
  kobs::testing::TempDir dir_;
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  std::thread reader_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::string stdout_;
};

std::vector<std::string> electionArgs(const std::string& ns) {
  return {"--kubeconfig", kube().kubeconfig().string(),
          "--set", "k8s.events.namespaces=" + ns,
          "--set", "k8s.events.leader_election.enabled=true",
          "--set", "k8s.events.leader_election.lease_namespace=" + ns,
          "--set", "k8s.events.leader_election.lease_duration=3s",
          "--set", "k8s.events.leader_election.renew_deadline=2s",
          "--set", "k8s.events.leader_election.retry_period=200ms",
          "--set", "composition.enabled=false"};
}

std::string leaseHolder(const std::string& ns) {
  auto r = kube().request("GET", "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases/kobs-k8s-events");
  if (r.status != 200) return "";
  return r.json()["spec"].value("holderIdentity", "");
}

bool holds(const std::string& holder, const Kobs& k) {
  const std::string suffix = "_" + std::to_string(k.pid());
  return holder.size() > suffix.size() && holder.compare(holder.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST(LeaderElection, TwoKobsProcessesShareOneRealLeaseAndHandOverWhenTheLeaderDies) {
  const auto ns = kube().createNamespace("le");
  auto pod = kube().createPod(ns, "web-0");
  Kobs a(electionArgs(ns)), b(electionArgs(ns));
  ASSERT_GT(a.port(), 0) << a.stderrLog();
  ASSERT_GT(b.port(), 0) << b.stderrLog();
  ASSERT_TRUE(waitFor([&] { return a.metric("kobs_k8s_events_leader") + b.metric("kobs_k8s_events_leader") == 1; }))
      << a.stderrLog() << b.stderrLog();
  Kobs& leader = a.metric("kobs_k8s_events_leader") == 1 ? a : b;
  Kobs& follower = &leader == &a ? b : a;
  EXPECT_TRUE(holds(leaseHolder(ns), leader)) << leaseHolder(ns);

  kube().createEvent(ns, "before", pod, "Pulled", "pulled before the handover");
  ASSERT_TRUE(waitFor([&] { return leader.metric("kobs_k8s_events_rows_stored_total") >= 1; })) << leader.stderrLog();
  EXPECT_EQ(follower.metric("kobs_k8s_events_rows_stored_total"), 0);
  EXPECT_EQ(follower.metric("kobs_k8s_events_leader"), 0);

  leader.kill(SIGKILL);  // no release: the follower waits for the lease to expire
  ASSERT_TRUE(waitFor([&] { return follower.metric("kobs_k8s_events_leader") == 1; })) << follower.stderrLog();
  EXPECT_TRUE(holds(leaseHolder(ns), follower)) << leaseHolder(ns);
  auto lease = kube().get("/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases/kobs-k8s-events");
  EXPECT_GE(lease["spec"].value("leaseTransitions", 0), 1);
  kube().createEvent(ns, "after", pod, "Started", "started after the handover");
  // The new leader lists the namespace (both events) and stores what its
  // store does not hold yet: each lives in a separate data dir here, so both.
  EXPECT_TRUE(waitFor([&] { return follower.metric("kobs_k8s_events_rows_stored_total") >= 2; }))
      << follower.stderrLog();
}

TEST(KubeconfigFlags, ContextPicksTheUser) {
  const auto ns = kube().createNamespace("ctx");
  auto pod = kube().createPod(ns, "web-0");
  kube().createEvent(ns, "seen", pod, "Pulled", "pulled");
  // carol is bound to nothing: the API server refuses her list, and kobs says so.
  Kobs carol({"--kubeconfig", kube().kubeconfig().string(), "--context", "carol", "--set",
              "k8s.events.namespaces=" + ns, "--set", "composition.enabled=false"});
  ASSERT_GT(carol.port(), 0) << carol.stderrLog();
  EXPECT_TRUE(waitFor([&] {
    const auto log = carol.stderrLog();
    return log.find("403 Forbidden") != std::string::npos && log.find("carol") != std::string::npos;
  })) << carol.stderrLog();
  EXPECT_EQ(carol.metric("kobs_k8s_events_rows_stored_total"), 0);
  // The admin context (the file's current-context) stores the event.
  Kobs admin({"--kubeconfig", kube().kubeconfig().string(), "--set", "k8s.events.namespaces=" + ns, "--set",
              "composition.enabled=false"});
  ASSERT_GT(admin.port(), 0) << admin.stderrLog();
  EXPECT_TRUE(waitFor([&] { return admin.metric("kobs_k8s_events_rows_stored_total") >= 1; })) << admin.stderrLog();
  EXPECT_NE(admin.stderrLog().find(kube().kubeconfig().string()), std::string::npos) << admin.stderrLog();
}

}  // namespace
}  // namespace kobs::collect
