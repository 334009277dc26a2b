// A loopback webhook receiver for the alert tests: a real HTTP server (kobs's
// own, src/http) that records every POST with its Idempotency-Key, answers
// with a status the test sets, and redirects on /moved.
#pragma once

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http/http_server.h"

namespace kobs::alert::testing {

struct ReceivedPost {
  std::string path;
  std::string idempotency_key;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class WebhookReceiver {
 public:
  // port 0: any free port.
  explicit WebhookReceiver(uint16_t port = 0);
  ~WebhookReceiver();

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/hook") const;
  void setStatus(int status) { status_ = status; }
  // While holding, a POST to /hook is recorded and then left unanswered
  // until release() (or stop()): a sender killed meanwhile never saw a reply.
  void hold();
  void release();
  void stop();

  std::vector<ReceivedPost> posts() const;
  // Distinct Idempotency-Keys seen (a retried POST counts once).
  size_t distinctKeys() const;
  // Waits (up to `timeout`) until `pred(posts())` holds.
  bool waitFor(const std::function<bool(const std::vector<ReceivedPost>&)>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

 private:
  std::atomic<int> status_{200};
  mutable std::mutex mutex_;
  std::condition_variable held_cv_;
  bool holding_ = false;
  std::vector<ReceivedPost> posts_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
};

}  // namespace kobs::alert::testing
