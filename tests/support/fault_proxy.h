// FaultProxy: an HTTP/1.1 proxy on a loopback port in front of one backend
// port, which injects faults per request so tests can drive a client's retry
// logic against a real server.
//
// Each request read from a client takes the next queued fault, or passes
// through when none is queued:
//   - pass: forwarded to the backend over a per-client backend connection
//     (keep-alive preserved), the response relayed back;
//   - 503: answered "HTTP/1.1 503 Service Unavailable" without a ClickHouse
//     exception, and the connection closed;
//   - hang: never answered (the client must time out); held until the proxy stops;
//   - drop: the connection is closed right after reading the request;
//   - clickhouse error: answered as ClickHouse answers a failed query: an
//     HTTP status (500 unless told), X-ClickHouse-Exception-Code and the body
//     "Code: N. DB::Exception: <message>", without reaching the backend.
// A backend that fails mid-request closes the client connection too.
//
// Threading: Boost.Asio with C++20 coroutines on one internal thread. The
// control methods and counters may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kobs::testing {

class FaultProxy {
 public:
  enum class Fault { kPass, k503, kHang, kDrop, kClickhouseError };
  struct Injected {
    Fault fault = Fault::kPass;
    int code = 0;  // kClickhouseError only
    std::string message;
    int http_status = 500;
  };

  explicit FaultProxy(uint16_t backend_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const;  // http://127.0.0.1:<port>

  // Queue `n` faults of one kind for the next requests.
  void fail503(int n = 1) { queue(Fault::k503, n); }
  void hang(int n = 1) { queue(Fault::kHang, n); }
  void drop(int n = 1) { queue(Fault::kDrop, n); }
  // Answer the next `n` requests with ClickHouse exception `code`.
  void failWithClickhouseCode(int code, std::string message, int n = 1, int http_status = 500);
  // Forget queued faults: everything passes through from now on.
  void passThrough();
  // Sets (or replaces) a header on every passed-through response, to play a
  // newer server (e.g. X-ClickHouse-Summary, which 18.16 never sends).
  void setResponseHeader(std::string name, std::string value);

  uint64_t connectionsAccepted() const { return connections_.load(); }
  uint64_t requestsSeen() const { return requests_.load(); }
  uint64_t faultsInjected() const { return faults_.load(); }

 private:
  struct Impl;
  void queue(Fault f, int n);
  Injected nextFault();
  std::vector<std::pair<std::string, std::string>> responseHeaders();

  uint16_t backend_port_;
  uint16_t port_ = 0;
  std::mutex mutex_;
  std::deque<Injected> faults_queued_;
  std::vector<std::pair<std::string, std::string>> response_headers_;
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> faults_{0};
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace kobs::testing
