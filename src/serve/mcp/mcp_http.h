// The MCP server's HTTP transports, on their own listener (mcp.listen, :8000):
//   POST /mcp      streamable HTTP: one JSON-RPC message or batch; answers
//                  application/json (200), 202 for notifications only, 400
//                  for a parse error or invalid request, 404 for an unknown
//                  Mcp-Session-Id (the client initializes again). An
//                  initialize answers with the new Mcp-Session-Id header.
//   GET /mcp       the session's server stream (text/event-stream,
//                  keepalive comments); one per session (409 otherwise).
//   DELETE /mcp    ends the session.
//   GET /sse       the old HTTP+SSE transport (2024-11-05): a stream whose
//                  first event, `endpoint`, names /messages?sessionId=<id>;
//   POST /messages?sessionId=<id>  a message, answered 202, its response
//                  sent on the stream as `event: message`.
//   GET /health    "OK", without authentication (probes).
//   OPTIONS        CORS preflight of the above.
// Authentication: `Authorization: Bearer <token>` with mcp.auth_token
// (CLICKHOUSE_MCP_AUTH_TOKEN), a token of auth.tokens_file, or a JWT the
// serve side's verifier accepts (serve/auth); without any of them configured
// every request is refused unless mcp.auth_disabled is set (as the official
// server refuses to start). Origin: a request with an Origin header is
// refused (403) unless it is a loopback origin, the Host it was sent to, or
// listed in mcp.allowed_origins (the MCP spec's DNS-rebinding rule).
// A MCP-Protocol-Version header naming a revision this server does not
// speak is refused (400).
//
// Threading: POST handlers are blocking routes (tool calls query the
// store) on the HTTP worker pool; the rest run on io threads and do not
// block. start() runs a housekeeping thread: keepalives on open streams and
// idle sessions dropped; stop() joins it.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "http/router.h"
#include "serve/auth/authenticator.h"
#include "serve/mcp/mcp_server.h"

namespace kobs::serve::mcp {

struct HttpOptions {
  std::string auth_token;     // accepted bearer token (empty: none of its own)
  bool auth_disabled = false;  // no authentication at all
  std::vector<std::string> allowed_origins;  // besides loopback and the Host; "*": any
  std::chrono::milliseconds keepalive{std::chrono::seconds(25)};
};

class McpHttp {
 public:
  // `authenticator` (may be null) is the serve side's token/JWT verifier.
  McpHttp(McpServer& server, HttpOptions options, const auth::Authenticator* authenticator,
          metrics::Registry* metrics);
  ~McpHttp();
  McpHttp(const McpHttp&) = delete;
  McpHttp& operator=(const McpHttp&) = delete;

  void addRoutes(http::Router& router);
  void start();
  void stop();

 private:
  http::Response post(const http::Request& request);
  http::Response openStream(const http::Request& request);
  http::Response remove(const http::Request& request);
  http::Response openLegacy(const http::Request& request);
  http::Response postLegacy(const http::Request& request);
  http::Response preflight(const http::Request& request);
  // nullopt when the request may go on; else the refusal.
  std::optional<http::Response> admit(const http::Request& request);
  std::optional<std::string> allowedOrigin(const http::Request& request) const;
  void decorate(const http::Request& request, http::Response& response) const;
  http::Response refuse(const std::string& reason, int status, const std::string& message);
  void housekeeping();

  McpServer& server_;
  const HttpOptions options_;
  const auth::Authenticator* authenticator_;
  std::map<std::string, metrics::Counter*> refused_;  // by reason; fixed after construction

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kobs::serve::mcp
