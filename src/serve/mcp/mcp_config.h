// The MCP server's configuration keys (mcp.*) and the environment names of
// the official ClickHouse MCP server that map onto them, so a deployment of
// that server switches to kobs by changing its image:
//   CLICKHOUSE_MCP_BIND_HOST / _PORT   -> mcp.listen (when mcp.listen is not set)
//   CLICKHOUSE_MCP_AUTH_TOKEN          -> mcp.auth_token
//   CLICKHOUSE_MCP_AUTH_DISABLED       -> mcp.auth_disabled
//   CLICKHOUSE_MCP_QUERY_TIMEOUT       -> mcp.query_timeout (seconds, as it takes them)
//   CLICKHOUSE_MCP_SERVER_TRANSPORT    -> mcp.transport (what `kobs mcp` serves)
//
// Threading: pure functions.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/config_table.h"

namespace kobs::serve::mcp {

struct McpConfig {
  std::string listen;  // empty: off
  std::string transport = "stdio";  // kobs mcp: stdio | http | sse (the HTTP listener serves both)
  std::string auth_token;
  bool auth_disabled = false;
  std::vector<std::string> allowed_origins;
  std::chrono::milliseconds query_timeout{30000};
  size_t max_rows = 10000;
  uint64_t max_bytes = 4 * 1024 * 1024;
  size_t max_sessions = 1000;
  std::chrono::milliseconds session_idle_timeout{std::chrono::minutes(30)};
  std::chrono::milliseconds keepalive{std::chrono::seconds(25)};
  bool rewrite_queries = true;
};

std::vector<config::KeySpec> configKeys();

// Throws kBadConfig naming the key (or the environment variable).
McpConfig loadConfig(const config::Values& values, const std::map<std::string, std::string>& environment);

}  // namespace kobs::serve::mcp
