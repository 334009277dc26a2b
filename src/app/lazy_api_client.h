// The presenter's Kubernetes API client, built on first use: the cluster may
// be unreachable when kobs starts, and each failed attempt is tried again on
// the next request (which fails closed meanwhile). Short timeouts: the calls
// run on a request's path.
//
// Threading: get() is thread-safe; the first successful call builds the client.
#pragma once

#include <memory>
#include <mutex>

#include "k8s/api_client.h"
#include "k8s/cluster_config.h"

namespace kobs::app {

class LazyApiClient {
 public:
  explicit LazyApiClient(k8s::ResolveOptions options) : options_(std::move(options)) {}
  k8s::ApiClient& get() {
    std::lock_guard lock(mutex_);
    if (!client_) {
      k8s::HttpOptions http;
      http.connect_timeout = std::chrono::seconds(2);
      http.request_timeout = std::chrono::seconds(5);
      client_ = std::make_unique<k8s::ApiClient>(k8s::resolveClusterConfig(options_), http);
    }
    return *client_;
  }

 private:
  const k8s::ResolveOptions options_;
  std::mutex mutex_;
  std::unique_ptr<k8s::ApiClient> client_;
};

}  // namespace kobs::app
