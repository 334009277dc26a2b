#include "webhook_receiver.h"

#include <set>
#include <thread>

namespace kobs::alert::testing {

WebhookReceiver::WebhookReceiver(uint16_t port) {
  http::Router router;
  auto record = [this](const http::Request& r) {
    ReceivedPost p;
    p.path = r.path;
    p.body = r.body;
    if (auto k = r.header("Idempotency-Key")) p.idempotency_key = std::string(*k);
    if (auto c = r.header("Content-Type")) p.content_type = std::string(*c);
    p.headers = r.headers.fields();
    std::lock_guard lock(mutex_);
    posts_.push_back(std::move(p));
  };
  router.post(
      "/hook",
      [this, record](const http::Request& r) {
        record(r);
        std::unique_lock lock(mutex_);
        held_cv_.wait(lock, [this] { return !holding_; });
        return http::Response::text(status_.load(), "ok");
      },
      http::RouteOptions{.blocking = true});
  router.post("/moved", [record](const http::Request& r) {
    record(r);
    auto resp = http::Response::text(302, "");
    resp.headers.set("Location", "/hook");
    return resp;
  });
  http::ServerOptions o;
  o.listen = "127.0.0.1:" + std::to_string(port);
  o.name = "webhook_receiver";
  server_ = std::make_unique<http::Server>(o, std::move(router));
  server_->start();
  port_ = server_->port();
}

WebhookReceiver::~WebhookReceiver() { stop(); }

void WebhookReceiver::hold() {
  std::lock_guard lock(mutex_);
  holding_ = true;
}

void WebhookReceiver::release() {
  {
    std::lock_guard lock(mutex_);
    holding_ = false;
  }
  held_cv_.notify_all();
}

void WebhookReceiver::stop() {
  release();
  if (server_) server_->stop(std::chrono::seconds(2));
}

std::string WebhookReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<ReceivedPost> WebhookReceiver::posts() const {
  std::lock_guard lock(mutex_);
  return posts_;
}

size_t WebhookReceiver::distinctKeys() const {
  std::set<std::string> keys;
  for (const auto& p : posts()) keys.insert(p.idempotency_key);
  return keys.size();
}

bool WebhookReceiver::waitFor(const std::function<bool(const std::vector<ReceivedPost>&)>& pred,
                              std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred(posts())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred(posts());
}

}  // namespace kobs::alert::testing
