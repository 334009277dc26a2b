// HttpClient: libcurl transport to one API server, with the cluster's TLS
// settings (CA and client certificate from memory) and a bearer token per
// request. Plain requests reuse a small pool of easy handles (each keeps its
// connection alive); streams (watches) run on their own multi handle so
// another thread can cancel them at once through a std::stop_token.
//
// Threading: all methods are thread-safe; any number of requests and streams
// may run concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/cluster_config.h"

namespace kobs::k8s {

struct HttpOptions {
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds request_timeout = std::chrono::seconds(60);  // plain requests only
  size_t max_idle_handles = 4;
  std::string user_agent = "kobs";
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

struct StreamOptions {
  // The stream ends with kIdleTimeout when no byte arrived for this long (0: never).
  std::chrono::milliseconds idle_timeout{0};
  std::stop_token stop;
};

enum class StreamEnd : uint8_t {
  kComplete = 0,     // the server ended the response (check status)
  kStopped = 1,      // the stop token was triggered
  kIdleTimeout = 2,  // nothing arrived within idle_timeout
  kAborted = 3,      // on_data returned false
  kFailed = 4,       // transport error (connect, TLS, reset): see error
};

struct StreamResult {
  int status = 0;          // HTTP status, 0 when none arrived
  StreamEnd end = StreamEnd::kComplete;
  std::string error;       // curl's message for kFailed
  std::string error_body;  // the body of a non-2xx answer (bounded)
};

class HttpClient {
 public:
  explicit HttpClient(ClusterConfig config, HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One request; `target` is path plus query. A 401 invalidates the token and
  // the request is sent once more. Transport failures throw
  // ApiError(kApiUnavailable, 0, ...); HTTP errors are returned, not thrown.
  HttpResponse request(std::string_view method, const std::string& target, std::string_view body = {},
                       std::string_view content_type = "application/json");

  // A long GET whose 2xx body is handed to on_data as it arrives. Exceptions
  // thrown by on_data end the transfer and propagate.
  StreamResult stream(const std::string& target, const std::function<bool(std::string_view)>& on_data,
                      const StreamOptions& options);

  const ClusterConfig& config() const { return config_; }

  // Requests sent (plain and streams) and those that failed below HTTP or with 5xx.
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  struct EasyDeleter {
    void operator()(void* handle) const;
  };
  using Easy = std::unique_ptr<void, EasyDeleter>;

  Easy acquire();
  void release(Easy handle);
  // Sets URL, TLS, timeouts and headers; `headers` must outlive the transfer.
  void configure(void* easy, const std::string& target, void** headers, std::string_view content_type, bool streaming);

  const ClusterConfig config_;
  const HttpOptions options_;
  std::mutex pool_mutex_;
  std::vector<Easy> idle_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> failures_{0};
};

}  // namespace kobs::k8s
