// Router: maps (method, path) to a handler. Exact paths win over prefix
// paths; among prefixes the longest wins. A path that matches but whose
// routes do not accept the method gets 405 with Allow; no match gets 404.
// GET routes also answer HEAD (the server sends the headers only).
//
// Threading: build the router before Server::start(); after that it is
// read-only and resolve() may run on any thread concurrently.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace kobs::http {

// A handler runs once per request. Throwing kobs::Exception answers with
// httpStatusFor(code) and the message; any other exception answers 500.
using Handler = std::function<Response(const Request&)>;

namespace detail {
// Where a deferred response goes (implemented by the server's connection).
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void deliver(Response response) = 0;
};
}  // namespace detail

// The handle a deferred handler answers through, later and from any thread
// (a pipeline callback, another pool): send() never blocks, it posts the
// response to the connection's io thread. Copies share one answer: the first
// send() wins and later ones are ignored. When the last copy is dropped
// without an answer the client gets 500, so a request is never left hanging
// by a lost handle. After the server stopped, send() does nothing.
class Responder {
 public:
  explicit Responder(std::shared_ptr<detail::ResponseSink> sink) : sink_(std::move(sink)) {}
  void send(Response response) const { sink_->deliver(std::move(response)); }

 private:
  std::shared_ptr<detail::ResponseSink> sink_;
};

// A handler that answers through its Responder, not by returning. The
// connection reads nothing more until the answer is sent (no pipelining
// past it). Throwing before answering answers as for Handler.
using DeferredHandler = std::function<void(const Request&, Responder)>;

// What a blocking route may answer on the io thread, without blocking (from
// memory); nullopt: the handler answers from the worker pool.
using InlineHandler = std::function<std::optional<Response>(const Request&)>;

struct RouteOptions {
  // The handler may block (store queries): run it on the server's worker pool
  // instead of the io thread, so other connections keep being served.
  bool blocking = false;
  // With blocking: tried first on the io thread, saving the two hand-offs to
  // and from the pool (they dominate a page served from memory on a loaded
  // machine). Must not block. Throwing answers as a Handler's throw does.
  InlineHandler inline_first;
};

class Router {
 public:
  // `path` must start with '/'. Registering the same method and path twice
  // throws kobs::Exception(kBadArguments).
  void add(std::string_view method, std::string path, Handler handler, RouteOptions options = {});
  // Matches every path that starts with `prefix` ("/events/" matches
  // "/events/abc"; the handler reads "abc" from Request::path_rest).
  void addPrefix(std::string_view method, std::string prefix, Handler handler, RouteOptions options = {});

  void get(std::string path, Handler handler, RouteOptions options = {}) {
    add("GET", std::move(path), std::move(handler), options);
  }
  void post(std::string path, Handler handler, RouteOptions options = {}) {
    add("POST", std::move(path), std::move(handler), options);
  }
  // A deferred route: see DeferredHandler.
  void addDeferred(std::string_view method, std::string path, DeferredHandler handler, RouteOptions options = {});

  struct Match {
    const Handler* handler = nullptr;  // null and deferred null: see status
    const DeferredHandler* deferred = nullptr;
    RouteOptions options;
    std::string path_rest;
    int status = 200;   // 404 or 405 when handler is null
    std::string allow;  // for 405: "GET, HEAD"
  };
  Match resolve(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::string path;
    bool prefix = false;
    Handler handler;
    DeferredHandler deferred;
    RouteOptions options;
  };
  void insert(std::string_view method, std::string path, bool prefix, Handler handler, DeferredHandler deferred,
              RouteOptions options);

  std::vector<Route> routes_;
};

}  // namespace kobs::http
