#include "serve/mcp/mcp_http.h"

#include <openssl/crypto.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/logging.h"
#include "http/stream_writer.h"
#include "store/sql_guard/sql_lexer.h"

namespace kobs::serve::mcp {
namespace {

using kobs::store::sql_guard::iequals;

const char* kRefusalReasons[] = {"auth", "origin", "session", "protocol_version", "media_type", "parse"};

bool containsNoCase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i)
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  return false;
}

// "http://host:port/x" -> "host"; "[::1]:80" -> "[::1]".
std::string hostOf(std::string_view origin_or_host) {
  auto s = origin_or_host;
  if (auto scheme = s.find("://"); scheme != std::string_view::npos) s = s.substr(scheme + 3);
  s = s.substr(0, s.find('/'));
  if (!s.empty() && s.front() == '[') return std::string(s.substr(0, s.find(']') + 1));
  return std::string(s.substr(0, s.find(':')));
}

bool loopback(const std::string& host) {
  return iequals(host, "localhost") || host == "127.0.0.1" || host == "[::1]";
}

http::Response jsonRpcResponse(int status, const Json& body) {
  return http::Response::json(status, body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string sseMessage(const Json& body) {
  return "event: message\ndata: " + body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n";
}

}  // namespace

McpHttp::McpHttp(McpServer& server, HttpOptions options, const auth::Authenticator* authenticator,
                 metrics::Registry* metrics)
    : server_(server), options_(std::move(options)), authenticator_(authenticator) {
  for (const char* reason : kRefusalReasons)
    refused_[reason] = metrics ? &metrics->counter("kobs_mcp_http_refused_total",
                                                   "MCP HTTP requests refused before JSON-RPC, by reason (auth, "
                                                   "origin, session, protocol_version, media_type, parse).",
                                                   {{"reason", reason}})
                               : nullptr;
  if (options_.auth_disabled)
    logging::get("mcp")->warn("MCP authentication is disabled (mcp.auth_disabled): anyone who reaches the port can "
                              "read every table");
  else if (options_.auth_token.empty() && !authenticator_)
    logging::get("mcp")->warn("MCP has no credentials configured: every request is refused until "
                              "CLICKHOUSE_MCP_AUTH_TOKEN (mcp.auth_token), auth.* or mcp.auth_disabled=true is set");
}

McpHttp::~McpHttp() { stop(); }

void McpHttp::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { housekeeping(); });
}

void McpHttp::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void McpHttp::housekeeping() {
  const auto frame = std::make_shared<const std::string>(": keepalive\n\n");
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.keepalive, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    for (const auto& s : server_.sessions()) {
      auto stream = s->stream();
      if (stream && !stream->closed()) {
        if (stream->write(frame)) s->touch();
      } else if (s->legacySse()) {
        server_.close(s->id());  // the old transport's session lives as long as its stream
      }
    }
    server_.reapIdle();
    lock.lock();
  }
}

void McpHttp::addRoutes(http::Router& router) {
  const http::RouteOptions blocking{.blocking = true};
  router.get("/health", [](const http::Request&) { return http::Response::text(200, "OK"); });
  router.post("/mcp", [this](const http::Request& r) { return post(r); }, blocking);
  router.get("/mcp", [this](const http::Request& r) { return openStream(r); });
  // DELETE may cancel running queries (a store call): off the io thread.
  router.add("DELETE", "/mcp", [this](const http::Request& r) { return remove(r); }, blocking);
  router.get("/sse", [this](const http::Request& r) { return openLegacy(r); });
  router.post("/messages", [this](const http::Request& r) { return postLegacy(r); }, blocking);
  router.post("/messages/", [this](const http::Request& r) { return postLegacy(r); }, blocking);
  for (const char* path : {"/mcp", "/sse", "/messages", "/messages/"})
    router.add("OPTIONS", path, [this](const http::Request& r) { return preflight(r); });
}

http::Response McpHttp::refuse(const std::string& reason, int status, const std::string& message) {
  if (auto it = refused_.find(reason); it != refused_.end() && it->second) it->second->inc();
  auto r = jsonRpcResponse(status, rpcError(nullptr, status == 404 ? -32001 : -32600, message));
  if (status == 401) r.headers.set("WWW-Authenticate", "Bearer");
  return r;
}

std::optional<std::string> McpHttp::allowedOrigin(const http::Request& request) const {
  auto origin = request.header("origin");
  if (!origin) return std::string();
  const std::string o(*origin);
  for (const auto& allowed : options_.allowed_origins)
    if (allowed == "*" || allowed == o) return o;
  const std::string host = hostOf(o);
  if (loopback(host)) return o;
  if (auto h = request.header("host"); h && iequals(hostOf(*h), host)) return o;
  return std::nullopt;
}

void McpHttp::decorate(const http::Request& request, http::Response& response) const {
  auto origin = allowedOrigin(request);
  if (!origin || origin->empty()) return;
  response.headers.set("Access-Control-Allow-Origin", *origin);
  response.headers.set("Access-Control-Expose-Headers", "Mcp-Session-Id, Mcp-Protocol-Version");
  response.headers.set("Vary", "Origin");
}

http::Response McpHttp::preflight(const http::Request& request) {
  if (!allowedOrigin(request)) return refuse("origin", 403, "Forbidden: origin not allowed");
  http::Response r;
  r.status = 204;
  r.headers.set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
  r.headers.set("Access-Control-Allow-Headers",
                "Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID");
  r.headers.set("Access-Control-Max-Age", "600");
  decorate(request, r);
  return r;
}

std::optional<http::Response> McpHttp::admit(const http::Request& request) {
  if (!allowedOrigin(request)) return refuse("origin", 403, "Forbidden: origin not allowed");
  if (options_.auth_disabled) return std::nullopt;
  if (options_.auth_token.empty() && !authenticator_)
    return refuse("auth", 401,
                  "Unauthorized: no MCP credentials are configured (set CLICKHOUSE_MCP_AUTH_TOKEN or mcp.auth_token, "
                  "or mcp.auth_disabled=true)");
  std::string token;
  if (auto a = request.header("authorization"); a && a->size() > 7 && iequals(a->substr(0, 7), "Bearer "))
    token = std::string(a->substr(7));
  if (token.empty()) return refuse("auth", 401, "Unauthorized: send Authorization: Bearer <token>");
  if (!options_.auth_token.empty() && token.size() == options_.auth_token.size() &&
      CRYPTO_memcmp(token.data(), options_.auth_token.data(), token.size()) == 0)
    return std::nullopt;
  if (authenticator_) {
    auto verdict = authenticator_->verifyToken(token);
    if (verdict.ok()) return std::nullopt;
    if (verdict.status == 503) return refuse("auth", 503, "Service Unavailable: " + verdict.message);
  }
  return refuse("auth", 401, "Unauthorized: invalid token");
}

http::Response McpHttp::post(const http::Request& request) {
  if (auto denied = admit(request)) {
    decorate(request, *denied);
    return std::move(*denied);
  }
  auto finish = [&](http::Response r) {
    decorate(request, r);
    return r;
  };
  if (auto ct = request.header("content-type"); !ct || !containsNoCase(*ct, "application/json"))
    return finish(refuse("media_type", 415, "Unsupported Media Type: Content-Type must be application/json"));
  if (auto accept = request.header("accept");
      accept && !accept->empty() && !containsNoCase(*accept, "application/json") &&
      !containsNoCase(*accept, "text/event-stream") && !containsNoCase(*accept, "*/*") &&
      !containsNoCase(*accept, "application/*"))
    return finish(refuse("media_type", 406, "Not Acceptable: the client must accept application/json"));
  if (auto v = request.header("mcp-protocol-version")) {
    const auto& versions = supportedProtocolVersions();
    if (std::find(versions.begin(), versions.end(), std::string(*v)) == versions.end())
      return finish(refuse("protocol_version", 400,
                           fmt::format("Bad Request: unsupported MCP-Protocol-Version {}", std::string(*v))));
  }
  std::shared_ptr<Session> session;
  if (auto id = request.header("mcp-session-id"); id && !id->empty()) {
    session = server_.find(std::string(*id));
    // An initialize starts over whatever session it names.
    if (!session && !containsNoCase(request.body, "\"initialize\""))
      return finish(refuse("session", 404, "Session not found"));
  }
  auto reply = server_.handle(request.body, session);
  http::Response r;
  if (!reply.body) {
    r.status = 202;
  } else {
    r = jsonRpcResponse(reply.http_status, *reply.body);
  }
  if (reply.created) r.headers.set("Mcp-Session-Id", reply.created->id());
  return finish(std::move(r));
}

http::Response McpHttp::openStream(const http::Request& request) {
  if (auto denied = admit(request)) return std::move(*denied);
  if (auto accept = request.header("accept"); accept && !containsNoCase(*accept, "text/event-stream") &&
                                              !containsNoCase(*accept, "*/*"))
    return refuse("media_type", 406, "Not Acceptable: the stream is text/event-stream");
  auto id = request.header("mcp-session-id");
  if (!id || id->empty()) return refuse("session", 400, "Bad Request: Mcp-Session-Id header required");
  auto session = server_.find(std::string(*id));
  if (!session) return refuse("session", 404, "Session not found");
  if (auto open = session->stream(); open && !open->closed())
    return refuse("session", 409, "Conflict: this session already has a stream open");
  auto r = http::Response::stream(
      "text/event-stream",
      [session](std::shared_ptr<http::StreamWriter> writer) {
        if (!session->attachStream(writer)) writer->close();
      },
      ": connected\n\n");
  r.headers.set("Cache-Control", "no-cache");
  r.headers.set("Mcp-Session-Id", session->id());
  decorate(request, r);
  return r;
}

http::Response McpHttp::remove(const http::Request& request) {
  if (auto denied = admit(request)) return std::move(*denied);
  auto id = request.header("mcp-session-id");
  if (!id || id->empty()) return refuse("session", 400, "Bad Request: Mcp-Session-Id header required");
  if (!server_.close(std::string(*id))) return refuse("session", 404, "Session not found");
  auto r = http::Response::text(200, "");
  decorate(request, r);
  return r;
}

http::Response McpHttp::openLegacy(const http::Request& request) {
  if (auto denied = admit(request)) return std::move(*denied);
  auto session = server_.createLegacy();
  auto r = http::Response::stream(
      "text/event-stream",
      [session](std::shared_ptr<http::StreamWriter> writer) {
        if (!session->attachStream(writer)) writer->close();
      },
      fmt::format("event: endpoint\ndata: /messages?sessionId={}\n\n", session->id()));
  r.headers.set("Cache-Control", "no-cache");
  decorate(request, r);
  return r;
}

http::Response McpHttp::postLegacy(const http::Request& request) {
  if (auto denied = admit(request)) return std::move(*denied);
  auto finish = [&](http::Response r) {
    decorate(request, r);
    return r;
  };
  auto id = request.queryParam("sessionId");
  if (!id) id = request.queryParam("session_id");
  if (!id || id->empty()) return finish(refuse("session", 400, "Bad Request: sessionId required"));
  auto session = server_.find(std::string(*id));
  auto stream = session ? session->stream() : nullptr;
  if (!session || !session->legacySse() || !stream || stream->closed())
    return finish(refuse("session", 404, "Session not found"));
  auto reply = server_.handle(request.body, session);
  if (reply.http_status != 200 && reply.body) return finish(jsonRpcResponse(reply.http_status, *reply.body));
  if (reply.body) stream->write(sseMessage(*reply.body));
  return finish(http::Response::text(202, "Accepted"));
}

}  // namespace kobs::serve::mcp
