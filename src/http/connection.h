// Internal to the HTTP server: one accepted TCP connection and the state the
// server shares with its connections. Not for use outside src/serve/http.
//
// Threading: every Connection method runs on the connection's strand, except
// streamWakeup()/streamAbort() (any thread; they only post to the strand).
// DeferredGate is thread-safe (its own mutex); a deferred response reaches
// the connection's strand through it.
// ServerState is shared by all connections: its fields are immutable after
// start, atomic, or guarded by `mutex`.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <spdlog/logger.h>

#include "http/http_server.h"

namespace kobs::http::detail {

class Connection;

// The server's own metrics; all null when ServerOptions::metrics is unset.
struct ServerMetrics {
  explicit ServerMetrics(const ServerOptions& options);
  void response(int status);
  void dropped(metrics::Counter* reason) {
    if (reason) reason->inc();
  }

  metrics::Counter* by_class[5] = {};  // 1xx..5xx
  metrics::Histogram* duration = nullptr;
  metrics::Gauge* connections = nullptr;
  metrics::Gauge* streams = nullptr;
  metrics::Counter* header_timeout = nullptr;
  metrics::Counter* body_timeout = nullptr;
  metrics::Counter* write_timeout = nullptr;
  metrics::Counter* stream_overflow = nullptr;
};

// The connections waiting for a deferred response, held alive here (nothing
// else owns a connection while no I/O is pending), and the one way a
// Responder reaches them. The gate outlives the server in the responders
// that still point at it; once closed (the server stopped), their answers go
// nowhere, so no one posts to a destroyed io_context.
class DeferredGate {
 public:
  void hold(std::shared_ptr<Connection> connection);
  // Posts `response` to the connection's strand, if it still waits.
  void deliver(Connection* connection, Response response, bool head);
  // The server stops: later answers are dropped; returns what was held.
  std::vector<std::shared_ptr<Connection>> close();

 private:
  std::mutex mutex_;
  bool open_ = true;
  std::unordered_map<Connection*, std::shared_ptr<Connection>> waiting_;
};

struct ServerState {
  ServerState(ServerOptions opts, Router r)
      : options(std::move(opts)), router(std::move(r)), metrics(options),
        workers(options.worker_threads ? options.worker_threads : 1) {}

  const ServerOptions options;
  const Router router;
  ServerMetrics metrics;
  std::shared_ptr<spdlog::logger> log;
  std::atomic<bool> stopping{false};

  // Live connections, so stop() can reach them. Connections add themselves
  // on start and remove themselves in their destructor.
  mutable std::mutex mutex;
  std::condition_variable drained;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;
  const std::shared_ptr<DeferredGate> deferred = std::make_shared<DeferredGate>();

  boost::asio::thread_pool workers;  // blocking handlers
  // Declared last: destroyed first, so handlers it still holds (and the
  // connections they keep alive) die while the fields above still exist.
  boost::asio::io_context ioc;
};

class Connection : public StreamSink, public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerState& state, boost::asio::ip::tcp::socket socket);
  ~Connection() override;

  void start();
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }
  // stop() phase 1: close if idle or streaming; in-flight requests finish.
  void serverStopping();
  // stop() phase 2 (deadline passed): close whatever is left.
  void forceClose();

  void streamWakeup() override;
  void streamAbort() override;
  // A deferred handler's answer, on the strand (see DeferredGate).
  void deliverDeferred(Response response, bool head);

 private:
  enum class Phase { kIdle, kReading, kHandling, kWriting, kStreaming, kClosing };

  void readRequest();
  void readHeader();
  void onHeader(boost::beast::error_code ec);
  void readBody();
  void readBodyDirect(uint64_t length);
  void onBody(boost::beast::error_code ec);
  void onRequest();
  void runDeferred(const DeferredHandler& handler, Request request, bool head, bool blocking);
  void sendResponse(Response response, bool head);
  void sendError(int status, std::string message);  // then close
  void onWritten(boost::beast::error_code ec, bool keep_alive);
  void lingerClose();
  void lingerRead();
  void closeNow();

  void startStream(Response response);
  void flushStream();
  void readWhileStreaming();
  void endStream(StreamWriter::CloseReason reason);

  // Memory: a server may hold tens of thousands of idle SSE streams, so what a
  // stream does not need is released when it starts (the read buffer, the
  // parser, the response head and its serializer) and nothing large is kept
  // inline (the parser is on the heap only while a request is read).
  ServerState& state_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::unique_ptr<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::shared_ptr<boost::beast::http::response<boost::beast::http::string_body>> response_;
  Phase phase_ = Phase::kIdle;
  std::string remote_address_;
  uint16_t remote_port_ = 0;
  unsigned version_ = 11;
  bool request_keep_alive_ = true;
  // A large body of known length is read straight into this string rather
  // than through the parser's buffer and string_body (one copy fewer per
  // request); moved into the Request, so nothing stays held between requests.
  std::string direct_body_;
  bool direct_ = false;
  std::chrono::steady_clock::time_point request_start_;  // first header byte

  // Streaming state.
  std::shared_ptr<StreamWriter> writer_;
  std::unique_ptr<boost::beast::http::response<boost::beast::http::empty_body>> stream_head_;
  std::unique_ptr<boost::beast::http::response_serializer<boost::beast::http::empty_body>> stream_serializer_;
  std::vector<StreamWriter::Frame> pending_;  // the frames of the chunk being written
  char chunk_head_[18];      // its chunk-size line: up to 16 hex digits and CRLF
  std::string initial_;      // the stream response's body, sent as the first chunk
  bool chunked_ = true;      // false for HTTP/1.0 clients: raw bytes, then close
  bool header_sent_ = false;
  bool chunk_in_flight_ = false;
  bool stream_done_ = false;
};

}  // namespace kobs::http::detail
