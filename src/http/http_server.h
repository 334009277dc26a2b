// HTTP/1.1 server on Boost.Beast: routing, keep-alive, body limit, slow-client
// timeouts, graceful stop, and streaming responses (SSE) through StreamWriter.
//
// Threading model:
//   - `io_threads` threads run one asio io_context. Each connection lives on
//     its own strand, so a connection's state is only touched by one thread at
//     a time and needs no locks; different connections run in parallel.
//   - A handler runs on the connection's io thread unless its route is
//     `blocking`, in which case it runs on a pool of `worker_threads` and its
//     Response is posted back to the connection's strand; a blocking route's
//     inline_first (RouteOptions) runs on the io thread first and may answer
//     there. Io-thread handlers must not block: a blocked io thread stalls
//     every connection on it.
//   - A deferred handler (Router::addDeferred) answers later through a
//     Responder, from any thread, without holding an io or worker thread
//     while it waits (OTLP answers once its records are durable).
//   - A streaming response hands a thread-safe StreamWriter to its producer;
//     see stream_writer.h.
//   - start(), stop(), port() are for the owning thread; stop() is idempotent
//     and is also run by the destructor.
//
// Timeouts (slow clients cannot hold a connection for free):
//   idle_timeout   keep-alive wait for the first byte of the next request;
//   header_timeout from that byte until the header is complete;
//   body_timeout   reading the body; write_timeout each response/chunk write.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "http/message.h"
#include "http/router.h"
#include "http/stream_writer.h"

namespace kobs::http {

struct ServerOptions {
  // "host:port", ":port" (all interfaces), "[::1]:port". Port 0 picks a free
  // port; read it back with Server::port().
  std::string listen = ":8080";
  size_t io_threads = 1;
  size_t worker_threads = 2;  // for blocking routes
  size_t body_limit = 16 * 1024 * 1024;  // larger bodies get 413
  size_t header_limit = 64 * 1024;       // larger headers get 431
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(120)};
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds body_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  StreamLimits stream_limits;
  std::string name = "http";  // logger suffix "http.<name>"; metric label server="<name>"
  // When set (it must outlive the server), the server registers:
  //   kobs_http_requests_total{server,code="2xx".."5xx"}  counter
  //   kobs_http_request_duration_seconds{server}         histogram (read + handler)
  //   kobs_http_open_connections{server}                  gauge (streams included)
  //   kobs_http_open_streams{server}                      gauge
  //   kobs_http_clients_dropped_total{server,reason}      counter: header_timeout,
  //     body_timeout, write_timeout, stream_overflow
  metrics::Registry* metrics = nullptr;
};

// Splits a listen address; throws kobs::Exception(kBadConfig) when malformed.
struct ListenAddress {
  std::string host;  // empty: all interfaces
  uint16_t port = 0;
};
ListenAddress parseListenAddress(const std::string& listen);

class Server {
 public:
  Server(ServerOptions options, Router router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the io threads; returns once connections are
  // accepted. Throws kobs::Exception (kBadConfig, kIo) when it cannot listen.
  void start();

  // Stops accepting, closes idle keep-alive connections and streams, lets
  // in-flight requests finish (their responses say Connection: close), and
  // force-closes whatever remains after `deadline`. Joins all threads.
  void stop(std::chrono::milliseconds deadline = std::chrono::seconds(10));

  // The bound port (the real one when the option said 0); 0 before start().
  uint16_t port() const;
  // Open connections (streams included), for tests and metrics.
  size_t connectionCount() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kobs::http
