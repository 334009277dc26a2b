#include "http/connection.h"

#include <array>
#include <optional>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "common/error.h"

namespace kobs::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// Time a closing connection keeps reading (and discarding) after its last
// response, so a client still sending a rejected body gets our response
// instead of a TCP reset.
constexpr auto kLingerTime = std::chrono::seconds(2);

// Bodies from this size on (with a Content-Length) are read without the
// parser (Connection::readBodyDirect); small ones are not worth the branch.
constexpr uint64_t kDirectBodyBytes = 16 * 1024;

Response invoke(const Handler& handler, const Request& request, spdlog::logger& log) {
  try {
    return handler(request);
  } catch (const Exception& e) {
    log.warn("handler failed method={} path={} code={} error=\"{}\"", request.method, request.path,
             errorCodeName(e.code()), e.what());
    return Response::text(httpStatusFor(e.code()), std::string(e.what()) + "\n");
  } catch (const std::exception& e) {
    log.error("handler failed method={} path={} error=\"{}\"", request.method, request.path, e.what());
    return Response::text(500, "internal error\n");
  }
}

// The Responder's sink: one answer per request, 500 when dropped unanswered.
class DeferredResponse final : public ResponseSink {
 public:
  DeferredResponse(std::shared_ptr<DeferredGate> gate, Connection* connection, bool head)
      : gate_(std::move(gate)), connection_(connection), head_(head) {}
  ~DeferredResponse() override { deliver(Response::text(500, "internal error: the request was not answered\n")); }
  void deliver(Response response) override {
    if (sent_.exchange(true)) return;
    gate_->deliver(connection_, std::move(response), head_);
  }

 private:
  std::shared_ptr<DeferredGate> gate_;
  Connection* connection_;  // a key into the gate, never dereferenced here
  bool head_;
  std::atomic<bool> sent_{false};
};

// A write that fails because the peer reset or closed the connection is the
// client going away (it may race the read side noticing the same thing); any
// other failure, a timeout included, is a write error.
StreamWriter::CloseReason writeFailureReason(const beast::error_code& ec) {
  if (ec == asio::error::broken_pipe || ec == asio::error::connection_reset || ec == asio::error::eof ||
      ec == asio::error::connection_aborted)
    return StreamWriter::CloseReason::kClientGone;
  return StreamWriter::CloseReason::kWriteError;
}

}  // namespace

void DeferredGate::hold(std::shared_ptr<Connection> connection) {
  std::lock_guard lock(mutex_);
  if (open_) waiting_.emplace(connection.get(), std::move(connection));
}

void DeferredGate::deliver(Connection* connection, Response response, bool head) {
  std::lock_guard lock(mutex_);
  if (!open_) return;
  auto it = waiting_.find(connection);
  if (it == waiting_.end()) return;
  auto c = std::move(it->second);
  waiting_.erase(it);
  // Posted under the lock: close() cannot run between the check and the post,
  // so the io_context is still alive here.
  auto ex = c->executor();
  asio::post(ex, [c = std::move(c), response = std::move(response), head]() mutable {
    c->deliverDeferred(std::move(response), head);
  });
}

std::vector<std::shared_ptr<Connection>> DeferredGate::close() {
  std::lock_guard lock(mutex_);
  open_ = false;
  std::vector<std::shared_ptr<Connection>> out;
  for (auto& [_, c] : waiting_) out.push_back(std::move(c));
  waiting_.clear();
  return out;
}

ServerMetrics::ServerMetrics(const ServerOptions& options) {
  auto* r = options.metrics;
  if (!r) return;
  metrics::Labels server{{"server", options.name}};
  auto with = [&](std::string k, std::string v) {
    auto l = server;
    l.emplace_back(std::move(k), std::move(v));
    return l;
  };
  for (int i = 0; i < 5; ++i)
    by_class[i] = &r->counter("kobs_http_requests_total", "HTTP responses sent, by status class.",
                              with("code", std::to_string(i + 1) + "xx"));
  duration = &r->histogram("kobs_http_request_duration_seconds",
                           "Time from the first byte of a request to its response being queued.",
                           metrics::Histogram::defaultSecondsBuckets(), server);
  connections = &r->gauge("kobs_http_open_connections", "Open HTTP connections, streams included.", server);
  streams = &r->gauge("kobs_http_open_streams", "Open streaming (SSE) responses.", server);
  const char* help = "Connections the server dropped because the client was too slow.";
  header_timeout = &r->counter("kobs_http_clients_dropped_total", help, with("reason", "header_timeout"));
  body_timeout = &r->counter("kobs_http_clients_dropped_total", help, with("reason", "body_timeout"));
  write_timeout = &r->counter("kobs_http_clients_dropped_total", help, with("reason", "write_timeout"));
  stream_overflow = &r->counter("kobs_http_clients_dropped_total", help, with("reason", "stream_overflow"));
}

void ServerMetrics::response(int status) {
  int cls = status / 100;
  if (cls >= 1 && cls <= 5 && by_class[cls - 1]) by_class[cls - 1]->inc();
}

Connection::Connection(ServerState& state, tcp::socket socket) : state_(state), stream_(std::move(socket)) {
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) {
    auto addr = ep.address();
    // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d.
    if (addr.is_v6() && addr.to_v6().is_v4_mapped())
      addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    remote_address_ = addr.to_string();
    remote_port_ = ep.port();
  }
  if (state_.metrics.connections) state_.metrics.connections->inc();
}

Connection::~Connection() {
  if (state_.metrics.connections) state_.metrics.connections->dec();
  std::lock_guard lock(state_.mutex);
  state_.connections.erase(this);
  state_.drained.notify_all();
}

void Connection::start() {
  {
    std::lock_guard lock(state_.mutex);
    state_.connections.emplace(this, weak_from_this());
  }
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->readRequest(); });
}

// ---- request/response cycle ----

void Connection::readRequest() {
  if (state_.stopping) return closeNow();
  parser_ = std::make_unique<bhttp::request_parser<bhttp::string_body>>();
  parser_->body_limit(state_.options.body_limit);
  parser_->header_limit(static_cast<uint32_t>(state_.options.header_limit));
  if (buffer_.size() > 0) {  // pipelined request already buffered
    request_start_ = std::chrono::steady_clock::now();
    return readHeader();
  }
  // Wait for the first byte under the idle timeout, then give the header its
  // own (shorter) deadline: a keep-alive connection may sit idle for long, a
  // client that has started a request must finish its header quickly.
  phase_ = Phase::kIdle;
  stream_.expires_after(state_.options.idle_timeout);
  stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
    if (ec) return self->closeNow();
    self->buffer_.commit(n);
    self->request_start_ = std::chrono::steady_clock::now();
    self->readHeader();
  });
}

void Connection::readHeader() {
  phase_ = Phase::kReading;
  stream_.expires_after(state_.options.header_timeout);
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, size_t) { self->onHeader(ec); });
}

void Connection::onHeader(beast::error_code ec) {
  if (ec == bhttp::error::body_limit) return sendError(413, "request body too large\n");
  if (ec == bhttp::error::header_limit) return sendError(431, "request header too large\n");
  if (ec == beast::error::timeout) {
    state_.log->debug("dropping client peer={}:{} reason=header_timeout", remote_address_, remote_port_);
    state_.metrics.dropped(state_.metrics.header_timeout);
    return closeNow();
  }
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::operation_aborted ||
      ec == asio::error::connection_reset)
    return closeNow();
  if (ec) return sendError(400, "bad request\n");
  const auto& head = parser_->get();
  auto expect = head[bhttp::field::expect];
  if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
    // Clients (curl for bodies over 1 MiB) wait for this before sending.
    auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, head.version());
    stream_.expires_after(state_.options.write_timeout);
    bhttp::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code ec, size_t) {
      if (ec) return self->closeNow();
      self->readBody();
    });
    return;
  }
  readBody();
}

void Connection::readBody() {
  if (parser_->is_done()) return onRequest();
  // The body limit was checked against Content-Length with the header.
  if (auto length = parser_->content_length(); length && !parser_->chunked() && *length >= kDirectBodyBytes)
    return readBodyDirect(*length);
  stream_.expires_after(state_.options.body_timeout);
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code ec, size_t) { self->onBody(ec); });
}

void Connection::readBodyDirect(uint64_t length) {
  direct_ = true;
  direct_body_.resize(length);
  // What arrived with the header first, then the rest straight from the socket.
  const size_t have = asio::buffer_copy(asio::buffer(direct_body_.data(), length), buffer_.data());
  buffer_.consume(have);
  stream_.expires_after(state_.options.body_timeout);
  asio::async_read(stream_, asio::buffer(direct_body_.data() + have, length - have),
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->onBody(ec); });
}

void Connection::onBody(beast::error_code ec) {
  if (ec == bhttp::error::body_limit) return sendError(413, "request body too large\n");
  if (ec == beast::error::timeout) state_.metrics.dropped(state_.metrics.body_timeout);
  if (ec) return closeNow();
  onRequest();
}

void Connection::onRequest() {
  phase_ = Phase::kHandling;
  stream_.expires_never();
  auto message = parser_->release();
  parser_.reset();
  version_ = message.version();
  request_keep_alive_ = message.keep_alive();

  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  request.version = version_;
  request.remote_address = remote_address_;
  request.remote_port = remote_port_;
  for (const auto& field : message) request.headers.add(field.name_string(), field.value());
  if (direct_) {
    request.body = std::move(direct_body_);
    direct_body_ = std::string();
    direct_ = false;
  } else {
    request.body = std::move(message.body());
  }

  std::string_view target = request.target;
  size_t q = target.find('?');
  auto path = percentDecode(target.substr(0, q), false);
  std::optional<QueryParams> query = QueryParams{};
  if (q != std::string_view::npos) {
    request.raw_query = std::string(target.substr(q + 1));
    query = parseQuery(request.raw_query);
  }
  if (!path || !query || path->empty() || path->front() != '/')
    return sendResponse(Response::text(400, "malformed request target\n"), false);
  request.path = std::move(*path);
  request.query = std::move(*query);

  bool head = request.method == "HEAD";
  auto match = state_.router.resolve(request.method, request.path);
  if (!match.handler && !match.deferred) {
    Response r = Response::text(match.status, match.status == 404 ? "404 page not found\n" : "method not allowed\n");
    if (match.status == 405) r.headers.set("Allow", match.allow);
    return sendResponse(std::move(r), head);
  }
  request.path_rest = std::move(match.path_rest);
  if (match.deferred) return runDeferred(*match.deferred, std::move(request), head, match.options.blocking);
  if (!match.options.blocking) return sendResponse(invoke(*match.handler, request, *state_.log), head);
  if (match.options.inline_first) {
    std::optional<Response> fast;
    bool returned = false;
    Response failed = invoke([&](const Request& r) {
      fast = match.options.inline_first(r);
      returned = true;
      return Response{};
    }, request, *state_.log);
    if (!returned) return sendResponse(std::move(failed), head);  // it threw: answered as a handler's throw
    if (fast) return sendResponse(std::move(*fast), head);
  }

  asio::post(state_.workers, [self = shared_from_this(), handler = match.handler, request = std::move(request), head] {
    auto response = invoke(*handler, request, *self->state_.log);
    asio::post(self->stream_.get_executor(), [self, response = std::move(response), head]() mutable {
      self->sendResponse(std::move(response), head);
    });
  });
}

void Connection::runDeferred(const DeferredHandler& handler, Request request, bool head, bool blocking) {
  state_.deferred->hold(shared_from_this());
  Responder responder(std::make_shared<DeferredResponse>(state_.deferred, this, head));
  auto run = [&log = *state_.log, &handler](const Request& req, const Responder& responder) {
    try {
      handler(req, responder);
    } catch (const Exception& e) {  // answers unless the handler already did
      log.warn("handler failed method={} path={} code={} error=\"{}\"", req.method, req.path,
               errorCodeName(e.code()), e.what());
      responder.send(Response::text(httpStatusFor(e.code()), std::string(e.what()) + "\n"));
    } catch (const std::exception& e) {
      log.error("handler failed method={} path={} error=\"{}\"", req.method, req.path, e.what());
      responder.send(Response::text(500, "internal error\n"));
    }
  };
  if (!blocking) return run(request, responder);
  asio::post(state_.workers, [run, request = std::move(request), responder = std::move(responder)] {
    run(request, responder);
  });
}

void Connection::deliverDeferred(Response response, bool head) {
  // Closed meanwhile (server stop deadline, forceClose): nobody to answer.
  if (phase_ != Phase::kHandling) return;
  sendResponse(std::move(response), head);
}

void Connection::sendResponse(Response response, bool head) {
  state_.metrics.response(response.status);
  if (state_.metrics.duration)
    state_.metrics.duration->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - request_start_).count());
  if (response.stream_open && !head) return startStream(std::move(response));
  phase_ = Phase::kWriting;
  bool keep_alive = request_keep_alive_ && !state_.stopping;
  response_ = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(response.status),
                                                                     version_);
  auto& res = *response_;
  for (const auto& [name, value] : response.headers.fields()) res.insert(name, value);
  size_t body_size = response.body.size();
  res.body() = head ? std::string() : std::move(response.body);
  res.keep_alive(keep_alive);
  res.content_length(body_size);  // HEAD: the length a GET would send, no body
  stream_.expires_after(state_.options.write_timeout);
  bhttp::async_write(stream_, res, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
    self->onWritten(ec, keep_alive);
  });
}

void Connection::sendError(int status, std::string message) {
  request_keep_alive_ = false;
  if (parser_ && parser_->is_header_done()) version_ = parser_->get().version();
  sendResponse(Response::text(status, std::move(message)), false);
}

void Connection::onWritten(beast::error_code ec, bool keep_alive) {
  response_.reset();
  if (ec == beast::error::timeout) state_.metrics.dropped(state_.metrics.write_timeout);
  if (ec) return closeNow();
  if (!keep_alive) return lingerClose();
  readRequest();
}

void Connection::lingerClose() {
  phase_ = Phase::kClosing;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.expires_after(kLingerTime);
  lingerRead();
}

void Connection::lingerRead() {
  // The request buffer is no longer needed: read into it and throw it away.
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(512), [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) return self->closeNow();  // EOF from the client, or the linger time is up
    self->lingerRead();
  });
}

void Connection::closeNow() {
  phase_ = Phase::kClosing;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
}

void Connection::serverStopping() {
  if (phase_ == Phase::kIdle) return closeNow();
  if (phase_ == Phase::kStreaming) {
    // End the chunked body properly, so a client sees a clean end of stream
    // (browsers reconnect without a protocol error); forceClose() at the
    // deadline still cuts a stream whose client stopped reading.
    if (writer_ && chunked_ && !stream_done_) return writer_->close(StreamWriter::CloseReason::kServerStopping);
    return endStream(StreamWriter::CloseReason::kServerStopping);
  }
  // Reading, handling or writing: the request finishes and its response
  // carries Connection: close (see sendResponse/readRequest).
}

void Connection::forceClose() {
  if (phase_ == Phase::kStreaming) return endStream(StreamWriter::CloseReason::kServerStopping);
  closeNow();
}

// ---- streaming ----

void Connection::startStream(Response response) {
  phase_ = Phase::kStreaming;
  if (state_.metrics.streams) state_.metrics.streams->inc();
  chunked_ = version_ >= 11;
  stream_head_ = std::make_unique<bhttp::response<bhttp::empty_body>>(static_cast<bhttp::status>(response.status),
                                                                      version_);
  for (const auto& [name, value] : response.headers.fields()) stream_head_->insert(name, value);
  if (chunked_) {
    stream_head_->chunked(true);
    if (!response.headers.has("Connection")) stream_head_->set(bhttp::field::connection, "keep-alive");
  } else {
    stream_head_->keep_alive(false);  // HTTP/1.0: the body ends when we close
  }
  initial_ = std::move(response.body);
  // Nothing more is read as a request on this connection: free the read
  // buffer (it grew to 4 KiB for the request head).
  buffer_.clear();
  buffer_.shrink_to_fit();
  // The writer starts "flushing" so producer writes only queue until the
  // header is out; then flushStream() drains the queue.
  writer_ = std::make_shared<StreamWriter>(std::weak_ptr<StreamSink>(shared_from_this()), state_.options.stream_limits);
  try {
    response.stream_open(writer_);
  } catch (const std::exception& e) {
    state_.log->error("stream open failed path error=\"{}\"", e.what());
    return endStream(StreamWriter::CloseReason::kClosedByServer);
  }
  if (stream_done_) return;

  // One wait for readability stays pending for the life of the stream, only
  // to notice the client going away; it has no deadline. Writes get
  // write_timeout (the wait is a plain socket op, outside the stream's timer).
  stream_.expires_never();
  beast::error_code ignored;
  stream_.socket().non_blocking(true, ignored);  // for readWhileStreaming's read_some; async ops are unaffected
  readWhileStreaming();
  stream_serializer_ = std::make_unique<bhttp::response_serializer<bhttp::empty_body>>(*stream_head_);
  stream_.expires_after(state_.options.write_timeout);
  chunk_in_flight_ = true;
  bhttp::async_write_header(stream_, *stream_serializer_, [self = shared_from_this()](beast::error_code ec, size_t) {
    self->chunk_in_flight_ = false;
    // The head is on the wire (or failed): neither it nor its serializer is needed again.
    self->stream_serializer_.reset();
    self->stream_head_.reset();
    if (ec == beast::error::timeout) self->state_.metrics.dropped(self->state_.metrics.write_timeout);
    if (ec) return self->endStream(writeFailureReason(ec));
    self->header_sent_ = true;
    self->flushStream();
  });
}

void Connection::readWhileStreaming() {
  // A wait holds no buffer, unlike a pending read: an idle stream costs less.
  // What the client sends is drained into the stack and ignored.
  stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
    if (self->stream_done_) return;
    if (ec) return self->endStream(StreamWriter::CloseReason::kClientGone);
    char sink[512];
    for (;;) {
      beast::error_code rec;
      self->stream_.socket().read_some(asio::buffer(sink), rec);  // non-blocking: see startStream
      if (rec == asio::error::would_block) break;
      if (rec) return self->endStream(StreamWriter::CloseReason::kClientGone);
    }
    self->readWhileStreaming();
  });
}

void Connection::flushStream() {
  if (stream_done_ || !header_sent_ || chunk_in_flight_) return;
  std::vector<StreamWriter::Frame> data;
  if (!initial_.empty()) data.push_back(std::make_shared<const std::string>(std::move(initial_)));
  std::string().swap(initial_);
  auto take = writer_->take(data);
  if (data.empty() && take == StreamWriter::Take::kIdle) return;
  bool last = data.empty() && take == StreamWriter::Take::kEnd;
  if (last && writer_->closeReason() == StreamWriter::CloseReason::kOverflow)
    return endStream(StreamWriter::CloseReason::kOverflow);

  // The queued frames are written where they are (a frame may be shared by
  // every stream an event goes to), framed by a chunk head and tail from
  // static storage: no copy of them per stream.
  pending_ = std::move(data);
  size_t bytes = 0;
  for (const auto& f : pending_) bytes += f->size();
  size_t head_len = 0;
  std::string_view tail;
  if (chunked_) {
    // One chunk per flush: everything queued since the last write goes out
    // in one frame, so a burst costs one syscall, and nothing waits behind
    // a buffer (SSE needs each event on the wire now).
    if (bytes > 0) {
      head_len = fmt::format_to_n(chunk_head_, sizeof chunk_head_, "{:x}\r\n", bytes).size;
      tail = "\r\n";  // (`last` implies no data: the end chunk goes alone)
    } else if (last) {
      tail = "0\r\n\r\n";
    }
  }
  std::vector<asio::const_buffer> frame;
  frame.reserve(pending_.size() + 2);
  frame.push_back(asio::buffer(chunk_head_, head_len));
  for (const auto& f : pending_) frame.push_back(asio::buffer(*f));
  frame.push_back(asio::buffer(tail.data(), tail.size()));
  chunk_in_flight_ = true;
  stream_.expires_after(state_.options.write_timeout);
  asio::async_write(stream_, frame, [self = shared_from_this(), last](beast::error_code ec, size_t) {
    self->chunk_in_flight_ = false;
    std::vector<StreamWriter::Frame>().swap(self->pending_);  // an idle stream keeps nothing of its last chunk
    if (self->stream_done_) return;
    if (ec == beast::error::timeout) self->state_.metrics.dropped(self->state_.metrics.write_timeout);
    if (ec) return self->endStream(writeFailureReason(ec));
    if (last) return self->endStream(StreamWriter::CloseReason::kClosedByServer);
    self->flushStream();
  });
}

void Connection::endStream(StreamWriter::CloseReason reason) {
  if (stream_done_) return;
  stream_done_ = true;
  if (state_.metrics.streams) state_.metrics.streams->dec();
  if (reason == StreamWriter::CloseReason::kOverflow) state_.metrics.dropped(state_.metrics.stream_overflow);
  closeNow();
  if (writer_) writer_->finish(reason);
}

void Connection::streamWakeup() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] { self->flushStream(); });
}

void Connection::streamAbort() {
  asio::post(stream_.get_executor(),
             [self = shared_from_this()] { self->endStream(StreamWriter::CloseReason::kOverflow); });
}

}  // namespace kobs::http::detail
