// The MCP stdio transport (`kobs mcp --stdio`, for a local agent that starts
// kobs as its subprocess): one JSON-RPC message or batch per line on stdin,
// each response on one line on stdout; logs go to stderr only. One session
// per process, made by the client's initialize.
//
// Threading: the calling thread reads stdin. Messages holding a tools/call
// (the ones that wait on the store) go to kStdioWorkers worker threads; every
// other message (initialize, notifications/cancelled, ping, lists) is handled
// on the reader at once, so a cancel reaches a running call while it runs.
// Responses are written whole under one mutex, in the order they are ready.
// At most kStdioQueue calls wait for a worker; past that the reader waits
// (back-pressure on the client). When stdin ends, the waiting and running
// calls are answered, then the session is closed.
#pragma once

#include <cstddef>
#include <istream>
#include <ostream>

#include "serve/mcp/mcp_server.h"

namespace kobs::serve::mcp {

inline constexpr size_t kStdioWorkers = 4;
inline constexpr size_t kStdioQueue = 64;

// Returns when `in` ends (the client closed stdin) and every call read is
// answered; the number of messages read.
size_t runStdio(McpServer& server, std::istream& in, std::ostream& out);

}  // namespace kobs::serve::mcp
