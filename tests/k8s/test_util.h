// Shared helpers for the k8s tests: a client config for the fake server and
// polling waits.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "k8s/cluster_config.h"
#include "support/fake_kube_apiserver.h"

namespace kobs::k8s::test {

inline ClusterConfig configFor(const testing::FakeKubeApiServer& server, const std::string& token = "") {
  ClusterConfig c;
  c.server = server.url();
  c.ca_pem = server.caPem();
  if (!token.empty()) c.token = std::make_shared<StaticTokenSource>(token);
  return c;
}

inline bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

inline nlohmann::json podEvent(const std::string& name, const std::string& ns = "default") {
  testing::FakeEventSpec s;
  s.ns = ns;
  s.name = name;
  s.involved_name = "web-0";
  s.involved_uid = "11111111-2222-4333-8444-555555555555";
  s.reason = "Pulled";
  s.message = "Successfully pulled image \"nginx:1.25\"";
  s.source_component = "kubelet";
  s.source_host = "node-1";
  return testing::makeEvent(s);
}

}  // namespace kobs::k8s::test
