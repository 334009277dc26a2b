// The MCP stdio transport (`kobs mcp --stdio`, for a local agent that starts
// kobs as its subprocess): one JSON-RPC message or batch per line on stdin,
// each response on one line on stdout; logs go to stderr only. One session
// per process, made by the client's initialize.
//
// Threading: runs on the calling thread until stdin ends; a request is
// answered before the next line is read, so a notifications/cancelled for a
// running call is read only after it ends (max_execution_time bounds it).
#pragma once

#include <istream>
#include <ostream>

#include "serve/mcp/mcp_server.h"

namespace kobs::serve::mcp {

// Returns when `in` ends (the client closed stdin); the number of messages read.
size_t runStdio(McpServer& server, std::istream& in, std::ostream& out);

}  // namespace kobs::serve::mcp
