// kobs_dev_cluster: the tests' real etcd + kube-apiserver, kept running for a
// person (scripts/dev-cluster.sh up|down). Prints the kubeconfig path, then
// waits for SIGTERM or SIGINT and tears everything down.
#include <signal.h>

#include <cstdio>
#include <exception>

#include "support/real_apiserver.h"

int main() {
  try {
    kobs::testing::RealApiServer kube;
    // Somewhere to put Pods and Events at once, and the Krateo-style CRD.
    kube.createNamespaceNamed("demo");
    kube.installCompositionCrd();
    std::printf("kubeconfig: %s\nserver: %s\nwork dir: %s\n", kube.kubeconfig().c_str(), kube.url().c_str(),
                kube.workDir().c_str());
    std::fflush(stdout);
    // Blocked only now: the servers were started with the default mask.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    int sig = 0;
    sigwait(&set, &sig);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kobs_dev_cluster: %s\n", e.what());
    return 1;
  }
}
