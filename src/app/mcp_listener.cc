// Step 3b of runProcess(): the MCP server for AI agents on its own listener
// (mcp.listen), and `kobs mcp` (stdio, or the HTTP transports alone).
#include <iostream>
#include <optional>

#include "app/component_options.h"
#include "app/process_parts.h"
#include "app/signal_waiter.h"
#include "app/store_factory.h"
#include "serve/mcp/mcp_stdio.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_options.h"

namespace kobs::app {
namespace {

serve::mcp::ToolsOptions mcpToolsOptions(const KobsConfig& c, bool server_store) {
  namespace sc = store::schema;
  serve::mcp::ToolsOptions o;
  o.database = c.schema.database;
  o.logs_table = sc::tableName(c.schema, sc::TableKind::kLogs);
  o.traces_table = sc::tableName(c.schema, sc::TableKind::kTraces);
  o.events_table = c.schema.events_table;
  o.max_rows = c.mcp.max_rows;
  o.max_bytes = c.mcp.max_bytes;
  o.query_timeout = c.mcp.query_timeout;
  o.rewrite_queries = c.mcp.rewrite_queries;
  o.server_store = server_store;
  return o;
}

serve::mcp::ServerOptions mcpServerOptions(const KobsConfig& c) {
  serve::mcp::ServerOptions o;
  o.max_sessions = c.mcp.max_sessions;
  o.idle_timeout = c.mcp.session_idle_timeout;
  return o;
}

serve::mcp::HttpOptions mcpHttpOptions(const KobsConfig& c) {
  return {.auth_token = c.mcp.auth_token, .auth_disabled = c.mcp.auth_disabled,
          .allowed_origins = c.mcp.allowed_origins, .keepalive = c.mcp.keepalive};
}

http::ServerOptions mcpListenerOptions(const KobsConfig& c, metrics::Registry* registry) {
  http::ServerOptions o;
  o.listen = c.mcp.listen;
  o.name = "mcp";
  // Tool calls block on the store: enough workers that a slow query does
  // not hold up pings, lists and the other sessions' calls.
  o.worker_threads = 8;
  o.body_limit = 1024 * 1024;
  o.metrics = registry;
  return o;
}

// The read-only store MCP queries: a readonly=2 session of the embedded
// store (settings allowed, vetted by sql_guard; writes refused by chDB), or
// the server store itself with readonly=1 on every query (ToolsOptions).
std::unique_ptr<store::IStore> openMcpStore(store::IStore& store) {
  if (auto* embedded = dynamic_cast<store::EmbeddedStore*>(&store)) return embedded->openReadOnly(4, 2);
  return nullptr;
}

}  // namespace

void Process::startMcp() {
  if (options_.role == Role::kCollect || options_.role == Role::kAlert || config_.mcp.listen.empty()) return;
  mcp_store_ = openMcpStore(*store_);
  store::IStore& readonly = mcp_store_ ? *mcp_store_ : *store_;
  mcp_tools_ = std::make_unique<serve::mcp::McpTools>(readonly, mcpToolsOptions(config_, !mcp_store_), &registry_);
  mcp_server_ = std::make_unique<serve::mcp::McpServer>(*mcp_tools_, mcpServerOptions(config_), &registry_);
  mcp_http_ = std::make_unique<serve::mcp::McpHttp>(*mcp_server_, mcpHttpOptions(config_), authenticator_.get(),
                                                    &registry_);
  http::Router router;
  mcp_http_->addRoutes(router);
  mcp_listener_ = std::make_unique<http::Server>(mcpListenerOptions(config_, &registry_), std::move(router));
  mcp_listener_->start();
  mcp_http_->start();
  std::cout << "kobs MCP server on " << listenerUrl(config_.mcp.listen, mcp_listener_->port())
            << "  (/mcp /sse; read-only)" << std::endl;
  announce("MCP server (/mcp, /sse)", listenerUrl(config_.mcp.listen, mcp_listener_->port()));
}

void Process::stopMcp() {
  if (mcp_http_) mcp_http_->stop();
  if (mcp_listener_) mcp_listener_->stop(std::chrono::milliseconds(500));
}

int runMcp(const KobsConfig& config, bool stdio) {
  stdio = stdio || config.mcp.transport == "stdio";
  // Built before any thread starts (the store's), so every thread inherits
  // the blocked signals; stdio keeps the default: Ctrl-C ends it.
  std::optional<SignalWaiter> signals;
  if (!stdio) signals.emplace([](std::chrono::steady_clock::time_point) {});
  auto store = openStore(config);
  auto readonly = openMcpStore(*store);
  serve::mcp::McpTools tools(readonly ? *readonly : *store, mcpToolsOptions(config, !readonly), nullptr);
  serve::mcp::McpServer server(tools, mcpServerOptions(config), nullptr);
  if (stdio) {
    serve::mcp::runStdio(server, std::cin, std::cout);
    return 0;
  }
  // http / sse: the HTTP transports alone, as the official server runs them.
  metrics::Registry registry;
  auto authenticator = serve::auth::Authenticator::create(config.serve.auth);
  serve::mcp::McpHttp transport(server, mcpHttpOptions(config), authenticator.get(), &registry);
  http::Router router;
  transport.addRoutes(router);
  http::Server listener(mcpListenerOptions(config, &registry), std::move(router));
  listener.start();
  transport.start();
  std::cout << "kobs MCP server on " << listenerUrl(config.mcp.listen, listener.port()) << "  (/mcp /sse; read-only)"
            << std::endl;
  while (!signals->waitFor(std::chrono::seconds(3600))) {
  }
  transport.stop();
  listener.stop(std::chrono::seconds(1));
  return 0;
}

}  // namespace kobs::app
