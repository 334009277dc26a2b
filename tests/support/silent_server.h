// SilentServer: a fake, labelled as such. A TCP listener on a loopback port
// that accepts every connection, reads and discards what the client sends,
// and never answers: a ClickHouse (or JWKS endpoint, or API server) that is
// up but hung. Real servers cannot be made to hang on demand, so this stands
// in for that one fault.
//
// Threading: one internal thread accepts and drains; connections are held
// until the object is destroyed. accepted() may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace kobs::testing {

class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Connections accepted so far.
  uint64_t accepted() const { return accepted_.load(); }

 private:
  void run();

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // a pipe: written by the destructor to end run()
  uint16_t port_ = 0;
  std::atomic<uint64_t> accepted_{0};
  std::vector<int> clients_;
  std::thread thread_;
};

}  // namespace kobs::testing
