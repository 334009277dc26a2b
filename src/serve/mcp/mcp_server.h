// The Model Context Protocol over JSON-RPC 2.0, independent of the transport
// (streamable HTTP and HTTP+SSE in mcp_http.h, stdio in mcp_stdio.h):
// lifecycle (initialize with version negotiation, notifications/initialized,
// ping), tools/list + tools/call (mcp_tools.h), resources/list + read,
// prompts/list + get, notifications/cancelled, batches, and the JSON-RPC
// errors: -32700 parse error, -32600 invalid request, -32601 method not
// found, -32602 invalid params.
//
// Sessions (Mcp-Session-Id): initialize makes one, bounded by max_sessions
// (the least recently used is dropped to make room: a flood of initializes
// cannot grow memory, and a dropped client gets 404 and initializes again),
// and one idle past idle_timeout is dropped by reapIdle(). A request without
// a session is served too, statelessly (curl's one-line tools/list).
//
// Threading: handle() runs on any thread, concurrently (the HTTP worker
// pool): the session table has a mutex, each Session its own. A tools/call
// blocks its thread for the store's query; a notifications/cancelled on
// another thread kills it (McpTools::cancel).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "http/stream_writer.h"
#include "serve/mcp/mcp_tools.h"

namespace kobs::serve::mcp {

// The revisions this server speaks, newest first (the MCP TypeScript SDK's list).
const std::vector<std::string>& supportedProtocolVersions();

struct ServerOptions {
  std::string name = "kobs";
  std::string version = "0.1.0";
  size_t max_sessions = 1000;
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(30)};
};

class Session {
 public:
  explicit Session(std::string id, bool legacy_sse) : id_(std::move(id)), legacy_sse_(legacy_sse) { touch(); }
  const std::string& id() const { return id_; }
  bool legacySse() const { return legacy_sse_; }
  std::string protocolVersion() const;
  void touch();
  std::chrono::steady_clock::time_point lastUsed() const;

  // The open server stream (GET /mcp, or /sse for the old transport).
  std::shared_ptr<http::StreamWriter> stream() const;
  // False when an open stream is already attached.
  bool attachStream(std::shared_ptr<http::StreamWriter> writer);
  void closeStream();

 private:
  friend class McpServer;
  const std::string id_;
  const bool legacy_sse_;
  mutable std::mutex mutex_;
  std::string protocol_version_;
  bool initialized_ = false;
  std::weak_ptr<http::StreamWriter> stream_;
  std::map<std::string, std::shared_ptr<CallContext>> in_flight_;  // by the request id's JSON text
  std::atomic<int64_t> last_used_ns_{0};
};

class McpServer {
 public:
  McpServer(McpTools& tools, ServerOptions options, metrics::Registry* metrics);

  struct Reply {
    // The JSON-RPC response (one object, or an array for a batch); nullopt
    // when the message held only notifications and responses (HTTP 202).
    std::optional<Json> body;
    // 200, or 400 when the whole message is not JSON-RPC (parse error,
    // invalid request).
    int http_status = 200;
    // Set when an initialize made a new session.
    std::shared_ptr<Session> created;
  };
  // One message (or batch) from a client. `session`: the caller's, or null
  // (stateless; an initialize then makes one). With `legacy` the session
  // was made by GET /sse and an initialize initializes it.
  Reply handle(std::string_view body, const std::shared_ptr<Session>& session);

  // A session by id (touched), or null.
  std::shared_ptr<Session> find(const std::string& id);
  // Makes a session for the old HTTP+SSE transport (GET /sse).
  std::shared_ptr<Session> createLegacy();
  // Ends a session (DELETE, stream gone): false when unknown.
  bool close(const std::string& id);
  // Drops sessions idle longer than idle_timeout; returns how many.
  size_t reapIdle();
  size_t sessionCount() const;
  // Every session, for keepalives on their streams.
  std::vector<std::shared_ptr<Session>> sessions() const;

  McpTools& tools() { return tools_; }

 private:
  Json dispatch(const Json& message, const std::shared_ptr<Session>& session, Reply& reply, bool in_batch);
  Json initialize(const Json& params, const std::shared_ptr<Session>& session, Reply& reply, bool in_batch);
  Json callTool(const Json& id, const Json& params, const std::shared_ptr<Session>& session);
  std::shared_ptr<Session> create(bool legacy);
  void count(const std::string& tool, const std::string& outcome);

  McpTools& tools_;
  const ServerOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
  metrics::Registry* metrics_;
  metrics::Counter* evicted_ = nullptr;
  metrics::Counter* reaped_ = nullptr;
  std::map<std::string, metrics::Counter*> errors_;  // JSON-RPC errors by kind
  std::map<std::pair<std::string, std::string>, metrics::Counter*> calls_;  // (tool, outcome); fixed after construction
};

// A JSON-RPC error response.
Json rpcError(const Json& id, int code, const std::string& message);

}  // namespace kobs::serve::mcp
