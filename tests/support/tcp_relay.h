// TcpRelay: a byte-for-byte TCP relay on a loopback port in front of one
// backend port, which a test can cut: every relayed connection is closed and
// new ones are accepted and closed at once, until restore(). It understands
// nothing of what it relays, so TLS passes through unchanged (the real
// kube-apiserver's certificate names 127.0.0.1, whatever the port).
//
// It is a fault injector, not a stand-in: it makes a real server
// unreachable for a client while the test still reaches that server directly
// (to change objects or compact etcd in the meantime), which stopping the
// server cannot do.
//
// Threading: one internal thread polls the listener and every connection;
// cut(), restore() and the counters may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kobs::testing {

class TcpRelay {
 public:
  explicit TcpRelay(uint16_t backend_port);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  uint16_t port() const { return port_; }
  void cut() { cut_.store(true); }
  void restore() { cut_.store(false); }
  uint64_t accepted() const { return accepted_.load(); }
  // Client connections open right now (relayed, not yet closed).
  uint64_t open() const { return open_.load(); }

 private:
  void run();

  uint16_t backend_port_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> cut_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> open_{0};
  std::vector<std::pair<int, int>> pairs_;  // client fd, backend fd; the relay thread's only
  std::thread thread_;
};

}  // namespace kobs::testing
