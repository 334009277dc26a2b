// A test SSE client over a raw loopback socket: sends the request, decodes
// the chunked body, and splits it into SSE frames (as an EventSource would:
// `id:` updates the last event id, comments are kept for the contract tests).
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "support/http_client.h"

namespace kobs::serve::testing {

struct SseFrame {
  std::string raw;    // the frame's bytes, blank line included
  std::string event;  // "" for a comment-only frame
  std::string data;
  std::string id;
};

class SseClient {
 public:
  SseClient(uint16_t port, const std::string& target, const std::vector<std::string>& headers = {}, int rcvbuf = 0)
      : socket_(port, rcvbuf) {
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
    for (const auto& h : headers) req += h + "\r\n";
    req += "\r\n";
    socket_.send(req);
  }

  // Reads until the response head is complete; returns it (status line + headers).
  std::string head(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (head_.empty() && std::chrono::steady_clock::now() < deadline && !socket_.closed()) pump(std::chrono::milliseconds(50));
    return head_;
  }

  // The next frame (comments included), or nullopt after `timeout`.
  std::optional<SseFrame> next(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool pumped = false;
    while (true) {
      auto end = body_.find("\n\n");
      if (end != std::string::npos) {
        SseFrame f;
        f.raw = body_.substr(0, end + 2);
        body_.erase(0, end + 2);
        size_t pos = 0;
        while (pos < f.raw.size() - 1) {
          size_t nl = f.raw.find('\n', pos);
          std::string line = f.raw.substr(pos, nl - pos);
          pos = nl + 1;
          if (line.rfind("event: ", 0) == 0) f.event = line.substr(7);
          else if (line.rfind("data: ", 0) == 0) f.data = line.substr(6);
          else if (line.rfind("id: ", 0) == 0) f.id = last_id_ = line.substr(4);
        }
        return f;
      }
      if (socket_.closed() || (pumped && std::chrono::steady_clock::now() >= deadline)) return std::nullopt;
      pump(std::chrono::milliseconds(std::clamp<long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count(), 1, 20)));
      pumped = true;
    }
  }
  // The next frame carrying an event (skips comments and retry hints).
  std::optional<SseFrame> nextEvent(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      auto f = next(std::max(left, std::chrono::milliseconds(0)));
      if (!f) return std::nullopt;
      if (!f->event.empty()) return f;
    }
  }

  const std::string& lastId() const { return last_id_; }
  bool closed() const { return socket_.closed(); }
  bool waitClosed(std::chrono::milliseconds t) { return socket_.waitClosed(t); }
  void close() { socket_.close(); }

 private:
  void pump(std::chrono::milliseconds timeout) {
    raw_ += socket_.readSome(timeout);
    if (head_.empty()) {
      auto end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      head_ = raw_.substr(0, end + 4);
      raw_.erase(0, end + 4);
    }
    while (true) {  // chunked decoding
      auto nl = raw_.find("\r\n");
      if (nl == std::string::npos) return;
      const size_t size = std::stoul(raw_.substr(0, nl), nullptr, 16);
      if (raw_.size() < nl + 2 + size + 2) return;
      body_ += raw_.substr(nl + 2, size);
      raw_.erase(0, nl + 2 + size + 2);
      if (size == 0) return;
    }
  }

  http::testing::RawSocket socket_;
  std::string raw_, head_, body_, last_id_;
};

}  // namespace kobs::serve::testing
