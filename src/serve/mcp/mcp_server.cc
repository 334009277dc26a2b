#include "serve/mcp/mcp_server.h"

#include <algorithm>

#include <fmt/format.h>

namespace kobs::serve::mcp {
namespace {

constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kResourceNotFound = -32002;  // MCP's code for resources/read of an unknown URI

const char* kErrorKinds[] = {"parse_error", "invalid_request", "method_not_found", "invalid_params"};
const char* kToolNames[] = {"list_databases", "list_tables", "run_query", "run_select_query",
                            "composition_timeline", "pod_errors", "unknown"};
const char* kOutcomes[] = {"ok", "error", "cancelled"};

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool validId(const Json& id) { return id.is_string() || id.is_number_integer() || id.is_number_unsigned(); }

}  // namespace

const std::vector<std::string>& supportedProtocolVersions() {
  static const std::vector<std::string> kVersions = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
                                                     "2024-10-07"};
  return kVersions;
}

Json rpcError(const Json& id, int code, const std::string& message) {
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

std::string Session::protocolVersion() const {
  std::lock_guard lock(mutex_);
  return protocol_version_;
}

void Session::touch() { last_used_ns_ = nowNs(); }

std::chrono::steady_clock::time_point Session::lastUsed() const {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(last_used_ns_.load()));
}

std::shared_ptr<http::StreamWriter> Session::stream() const {
  std::lock_guard lock(mutex_);
  return stream_.lock();
}

bool Session::attachStream(std::shared_ptr<http::StreamWriter> writer) {
  std::lock_guard lock(mutex_);
  if (auto open = stream_.lock(); open && !open->closed()) return false;
  stream_ = writer;
  return true;
}

void Session::closeStream() {
  std::shared_ptr<http::StreamWriter> open;
  {
    std::lock_guard lock(mutex_);
    open = stream_.lock();
    stream_.reset();
  }
  if (open) open->close();
}

McpServer::McpServer(McpTools& tools, ServerOptions options, metrics::Registry* metrics)
    : tools_(tools), options_(std::move(options)), metrics_(metrics) {
  if (!metrics_) return;
  metrics_->gaugeCallback("kobs_mcp_sessions_open", "MCP sessions open.", [this] { return double(sessionCount()); });
  evicted_ = &metrics_->counter("kobs_mcp_sessions_evicted_total",
                                "MCP sessions dropped to stay within mcp.max_sessions (least recently used first).");
  reaped_ = &metrics_->counter("kobs_mcp_sessions_expired_total",
                               "MCP sessions dropped after mcp.session_idle_timeout without a request.");
  for (const char* kind : kErrorKinds)
    errors_[kind] = &metrics_->counter("kobs_mcp_rpc_errors_total",
                                       "JSON-RPC errors answered by the MCP server, by kind.", {{"kind", kind}});
  for (const char* tool : kToolNames)
    for (const char* outcome : kOutcomes)
      calls_[{tool, outcome}] = &metrics_->counter(
          "kobs_mcp_tool_calls_total", "MCP tool calls, by tool and outcome (ok, error, cancelled).",
          {{"tool", tool}, {"outcome", outcome}});
}

void McpServer::count(const std::string& tool, const std::string& outcome) {
  auto it = calls_.find({tool, outcome});
  if (it == calls_.end()) it = calls_.find({"unknown", outcome});  // no label per made-up name
  if (it != calls_.end()) it->second->inc();
}

std::shared_ptr<Session> McpServer::create(bool legacy) {
  auto session = std::make_shared<Session>(randomId(), legacy);
  std::shared_ptr<Session> evicted;
  {
    std::lock_guard lock(mutex_);
    if (sessions_.size() >= options_.max_sessions && !sessions_.empty()) {
      auto lru = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
        return a.second->lastUsed() < b.second->lastUsed();
      });
      evicted = lru->second;
      sessions_.erase(lru);
    }
    sessions_[session->id()] = session;
  }
  if (evicted) {
    evicted->closeStream();
    if (evicted_) evicted_->inc();
  }
  return session;
}

std::shared_ptr<Session> McpServer::createLegacy() { return create(true); }

std::shared_ptr<Session> McpServer::find(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return nullptr;
  it->second->touch();
  return it->second;
}

bool McpServer::close(const std::string& id) {
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return false;
    session = it->second;
    sessions_.erase(it);
  }
  session->closeStream();
  std::vector<std::shared_ptr<CallContext>> running;
  {
    std::lock_guard lock(session->mutex_);
    for (auto& [_, c] : session->in_flight_) running.push_back(c);
  }
  for (auto& c : running) tools_.cancel(*c);  // a client that ends its session wants nothing more
  return true;
}

size_t McpServer::reapIdle() {
  const auto limit = std::chrono::steady_clock::now() - options_.idle_timeout;
  std::vector<std::string> idle;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, s] : sessions_) {
      auto stream = s->stream();
      if (s->lastUsed() < limit && !(stream && !stream->closed())) idle.push_back(id);
    }
  }
  size_t n = 0;
  for (const auto& id : idle) n += close(id) ? 1 : 0;
  if (reaped_) reaped_->inc(n);
  return n;
}

size_t McpServer::sessionCount() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

std::vector<std::shared_ptr<Session>> McpServer::sessions() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Session>> out;
  out.reserve(sessions_.size());
  for (const auto& [_, s] : sessions_) out.push_back(s);
  return out;
}

McpServer::Reply McpServer::handle(std::string_view body, const std::shared_ptr<Session>& session) {
  Reply reply;
  Json message;
  try {
    message = Json::parse(body);
  } catch (const Json::parse_error& e) {
    if (auto it = errors_.find("parse_error"); it != errors_.end()) it->second->inc();
    reply.http_status = 400;
    reply.body = rpcError(nullptr, kParseError, fmt::format("Parse error: {}", e.what()));
    return reply;
  }
  if (message.is_array()) {
    if (message.empty()) {
      if (auto it = errors_.find("invalid_request"); it != errors_.end()) it->second->inc();
      reply.http_status = 400;
      reply.body = rpcError(nullptr, kInvalidRequest, "Invalid Request: an empty batch");
      return reply;
    }
    Json responses = Json::array();
    for (const auto& m : message) {
      Json r = dispatch(m, session, reply, true);
      if (!r.is_null()) responses.push_back(std::move(r));
    }
    if (!responses.empty()) reply.body = std::move(responses);
    return reply;
  }
  Json r = dispatch(message, session, reply, false);
  if (!r.is_null()) {
    // A message that is not JSON-RPC at all is the HTTP request's fault.
    if (r.contains("error") && r["error"]["code"] == kInvalidRequest && r["id"].is_null()) reply.http_status = 400;
    reply.body = std::move(r);
  }
  return reply;
}

Json McpServer::dispatch(const Json& m, const std::shared_ptr<Session>& session, Reply& reply, bool in_batch) {
  auto fail = [&](const Json& id, int code, const std::string& message, const char* kind) {
    if (auto it = errors_.find(kind); it != errors_.end()) it->second->inc();
    return rpcError(id, code, message);
  };
  if (!m.is_object()) return fail(nullptr, kInvalidRequest, "Invalid Request: not a JSON-RPC object", "invalid_request");
  const bool has_id = m.contains("id");
  const Json id = has_id && validId(m["id"]) ? m["id"] : Json(nullptr);
  if (!m.contains("jsonrpc") || m["jsonrpc"] != "2.0")
    return fail(id, kInvalidRequest, "Invalid Request: jsonrpc must be \"2.0\"", "invalid_request");
  if (!m.contains("method")) {
    // A response to a request of ours (we send none) is accepted and dropped.
    if (has_id && (m.contains("result") || m.contains("error"))) return nullptr;
    return fail(id, kInvalidRequest, "Invalid Request: no method", "invalid_request");
  }
  if (!m["method"].is_string())
    return fail(id, kInvalidRequest, "Invalid Request: method must be a string", "invalid_request");
  if (has_id && !validId(m["id"]))
    return fail(nullptr, kInvalidRequest, "Invalid Request: id must be a string or an integer", "invalid_request");
  const std::string method = m["method"];
  const Json params = m.contains("params") ? m["params"] : Json::object();
  if (!params.is_object()) {
    if (!has_id) return nullptr;
    return fail(id, kInvalidParams, "Invalid params: params must be an object", "invalid_params");
  }
  if (session) session->touch();

  if (!has_id) {  // a notification: never answered
    if (method == "notifications/initialized" && session) {
      std::lock_guard lock(session->mutex_);
      session->initialized_ = true;
    } else if (method == "notifications/cancelled" && session && params.contains("requestId")) {
      std::shared_ptr<CallContext> running;
      {
        std::lock_guard lock(session->mutex_);
        auto it = session->in_flight_.find(params["requestId"].dump());
        if (it != session->in_flight_.end()) running = it->second;
      }
      if (running) tools_.cancel(*running);
    }
    return nullptr;
  }
  auto ok = [&](Json result) { return Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}; };

  if (method == "initialize") {
    Json result = initialize(params, session, reply, in_batch);
    if (result.is_null())
      return fail(id, kInvalidRequest, "Invalid Request: initialize cannot be part of a batch", "invalid_request");
    return ok(std::move(result));
  }
  if (method == "ping") return ok(Json::object());
  if (method == "tools/list") return ok(Json{{"tools", tools_.list()}});
  if (method == "tools/call") {
    if (!params.contains("name") || !params["name"].is_string())
      return fail(id, kInvalidParams, "Invalid params: tools/call needs a tool name", "invalid_params");
    try {
      return ok(callTool(id, params, session));
    } catch (const InvalidParams& e) {
      count(params["name"], "error");
      return fail(id, kInvalidParams, "Invalid params: " + e.message, "invalid_params");
    }
  }
  if (method == "resources/list") return ok(Json{{"resources", tools_.resources()}});
  if (method == "resources/templates/list") return ok(Json{{"resourceTemplates", Json::array()}});
  if (method == "resources/read") {
    if (!params.contains("uri") || !params["uri"].is_string())
      return fail(id, kInvalidParams, "Invalid params: resources/read needs a uri", "invalid_params");
    if (auto r = tools_.readResource(params["uri"])) return ok(std::move(*r));
    return rpcError(id, kResourceNotFound, fmt::format("Resource not found: {}", params["uri"].get<std::string>()));
  }
  if (method == "prompts/list") return ok(Json{{"prompts", tools_.prompts()}});
  if (method == "prompts/get") {
    if (!params.contains("name") || !params["name"].is_string())
      return fail(id, kInvalidParams, "Invalid params: prompts/get needs a name", "invalid_params");
    if (auto r = tools_.getPrompt(params["name"])) return ok(std::move(*r));
    return fail(id, kInvalidParams, fmt::format("Invalid params: unknown prompt {}", params["name"].get<std::string>()),
                "invalid_params");
  }
  return fail(id, kMethodNotFound, "Method not found: " + method, "method_not_found");
}

Json McpServer::initialize(const Json& params, const std::shared_ptr<Session>& session, Reply& reply, bool in_batch) {
  if (in_batch) return nullptr;  // the lifecycle's first message stands alone
  const auto& versions = supportedProtocolVersions();
  std::string version = versions.front();
  if (params.contains("protocolVersion") && params["protocolVersion"].is_string() &&
      std::find(versions.begin(), versions.end(), params["protocolVersion"].get<std::string>()) != versions.end())
    version = params["protocolVersion"];
  std::shared_ptr<Session> target = session && session->legacySse() ? session : nullptr;
  if (!target) {
    if (!reply.created) reply.created = create(false);
    target = reply.created;
  }
  {
    std::lock_guard lock(target->mutex_);
    target->protocol_version_ = version;
  }
  return Json{{"protocolVersion", version},
              {"capabilities",
               {{"tools", {{"listChanged", false}}},
                {"resources", {{"subscribe", false}, {"listChanged", false}}},
                {"prompts", {{"listChanged", false}}}}},
              {"serverInfo", {{"name", options_.name}, {"title", "kobs observability (ClickHouse)"},
                              {"version", options_.version}}},
              {"instructions",
               "Read-only SQL over kobs's ClickHouse tables (OpenTelemetry logs, traces, metrics and Kubernetes "
               "events with Krateo composition ids). Read the resource kobs://schema/otel first; use "
               "composition_timeline and pod_errors for the usual questions, run_query for the rest."}};
}

Json McpServer::callTool(const Json& id, const Json& params, const std::shared_ptr<Session>& session) {
  const std::string name = params["name"];
  const Json arguments = params.contains("arguments") ? params["arguments"] : Json::object();
  auto context = std::make_shared<CallContext>();
  const std::string key = id.dump();
  if (session) {
    std::lock_guard lock(session->mutex_);
    session->in_flight_[key] = context;
  }
  struct Unregister {
    const std::shared_ptr<Session>& s;
    const std::string& k;
    ~Unregister() {
      if (!s) return;
      std::lock_guard lock(s->mutex_);
      s->in_flight_.erase(k);
    }
  } unregister{session, key};
  Json result = tools_.call(name, arguments, context.get());
  count(name, context->cancelled() ? "cancelled" : result["isError"].get<bool>() ? "error" : "ok");
  return result;
}

}  // namespace kobs::serve::mcp
