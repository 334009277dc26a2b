#include "serve/mcp/mcp_config.h"

#include <charconv>

#include "common/error.h"

namespace kobs::serve::mcp {

using config::KeySpec;
using config::KeyType;

std::vector<KeySpec> configKeys() {
  return {
      {"mcp.listen", KeyType::kString, ":8000", "Address of the MCP server for AI agents (streamable HTTP /mcp, HTTP+SSE /sse, /health) in kobs all and kobs serve; CLICKHOUSE_MCP_BIND_HOST/_PORT set it too. Empty: off.", {"KOBS_MCP_LISTEN"}},
      {"mcp.transport", KeyType::kEnum, "stdio", "What `kobs mcp` serves: stdio (one JSON-RPC message per line), or http/sse (both HTTP transports on mcp.listen).", {"KOBS_MCP_TRANSPORT", "CLICKHOUSE_MCP_SERVER_TRANSPORT"}, {"stdio", "http", "sse"}},
      {"mcp.auth_token", KeyType::kString, "", "Bearer token MCP clients must send (tokens of auth.tokens_file and JWTs of auth.jwt_* are accepted too).", {"KOBS_MCP_AUTH_TOKEN", "CLICKHOUSE_MCP_AUTH_TOKEN"}, {}, true},
      {"mcp.auth_disabled", KeyType::kBool, "false", "Serve MCP without authentication. Without it and without a token every request is refused (401).", {"KOBS_MCP_AUTH_DISABLED", "CLICKHOUSE_MCP_AUTH_DISABLED"}},
      {"mcp.allowed_origins", KeyType::kStringList, "", "Browser origins allowed to call MCP besides loopback ones and the server's own host (`*`: any).", {"KOBS_MCP_ALLOWED_ORIGINS"}},
      {"mcp.query_timeout", KeyType::kDuration, "30s", "Longest run of one MCP query; ClickHouse stops it then (max_execution_time). CLICKHOUSE_MCP_QUERY_TIMEOUT (seconds) sets it too.", {"KOBS_MCP_QUERY_TIMEOUT"}},
      {"mcp.max_rows", KeyType::kInt, "10000", "Rows an MCP tool result holds at most (the result says truncated, with the count before the cut).", {}},
      {"mcp.max_bytes", KeyType::kBytes, "4MiB", "Bytes of rows an MCP tool result holds at most.", {}},
      {"mcp.max_sessions", KeyType::kInt, "1000", "MCP sessions kept at most; the least recently used is dropped for a new one.", {}},
      {"mcp.session_idle_timeout", KeyType::kDuration, "30m", "An MCP session without a request (or open stream) this long is dropped.", {}},
      {"mcp.rewrite_queries", KeyType::kBool, "true", "Run MCP queries on the logs table through the columns materialized from a map lookup (ClickStack's __hdx_materialized_*) and the text index of a map's key=value items, where the table has them: the same result, a fraction of the bytes read. false: as written.", {}},
      {"mcp.keepalive", KeyType::kDuration, "25s", "Period of the keepalive comment on MCP server streams (GET /mcp, /sse).", {}},
  };
}

McpConfig loadConfig(const config::Values& v, const std::map<std::string, std::string>& env) {
  McpConfig c;
  auto envOf = [&](const char* name) -> std::string {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  };
  c.listen = v.str("mcp.listen");
  if (!v.isSet("mcp.listen")) {
    const std::string host = envOf("CLICKHOUSE_MCP_BIND_HOST"), port = envOf("CLICKHOUSE_MCP_BIND_PORT");
    if (!host.empty() || !port.empty()) {
      // The official server's defaults: 127.0.0.1 and 8000.
      const std::string h = host.empty() ? "127.0.0.1" : host;
      c.listen = (h.find(':') != std::string::npos && h.front() != '[' ? "[" + h + "]" : h) + ":" +
                 (port.empty() ? "8000" : port);
    }
  }
  c.transport = v.str("mcp.transport");
  c.auth_token = v.str("mcp.auth_token");
  c.auth_disabled = v.boolean("mcp.auth_disabled");
  c.allowed_origins = v.list("mcp.allowed_origins");
  c.query_timeout = v.duration("mcp.query_timeout");
  if (!v.isSet("mcp.query_timeout")) {
    if (auto s = envOf("CLICKHOUSE_MCP_QUERY_TIMEOUT"); !s.empty()) {
      double seconds = 0;
      auto r = std::from_chars(s.data(), s.data() + s.size(), seconds);
      if (r.ec != std::errc() || r.ptr != s.data() + s.size() || seconds <= 0) {
        auto d = config::parseDuration(s);
        if (!d)
          throw Exception(ErrorCode::kBadConfig, "environment CLICKHOUSE_MCP_QUERY_TIMEOUT: expected seconds, got '{}'", s);
        c.query_timeout = *d;
      } else {
        c.query_timeout = std::chrono::milliseconds(int64_t(seconds * 1000));
      }
    }
  }
  if (c.query_timeout.count() <= 0) throw Exception(ErrorCode::kBadConfig, "config key mcp.query_timeout: must be positive");
  auto positive = [&](const char* key) {
    if (v.integer(key) <= 0) throw Exception(ErrorCode::kBadConfig, "config key {}: must be positive", key);
    return size_t(v.integer(key));
  };
  c.max_rows = positive("mcp.max_rows");
  c.max_sessions = positive("mcp.max_sessions");
  c.max_bytes = v.bytes("mcp.max_bytes");
  if (c.max_bytes == 0) throw Exception(ErrorCode::kBadConfig, "config key mcp.max_bytes: must be positive");
  c.session_idle_timeout = v.duration("mcp.session_idle_timeout");
  c.keepalive = v.duration("mcp.keepalive");
  c.rewrite_queries = v.boolean("mcp.rewrite_queries");
  if (c.keepalive.count() <= 0) throw Exception(ErrorCode::kBadConfig, "config key mcp.keepalive: must be positive");
  return c;
}

}  // namespace kobs::serve::mcp
