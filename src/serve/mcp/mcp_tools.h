// The MCP tools, resources and prompts kobs serves to AI agents, over one
// read-only store:
//   list_databases, list_tables, run_query (and its old name run_select_query):
//     the official ClickHouse MCP server's tools, with its argument names and
//     result shapes (a JSON document as text content, and the same text as
//     structuredContent.result);
//   composition_timeline, pod_errors: Krateo questions answered from the same
//     tables with SQL kobs writes itself;
//   the resource kobs://schema/otel and the prompt kobs_sql_guide: the tables
//     and the Krateo columns, so an agent's first SQL is right.
//
// Read-only by construction: untrusted SQL must pass store/sql_guard
// (checkReadOnly: one SELECT / WITH / SHOW / DESCRIBE / EXISTS / EXPLAIN, no
// INTO OUTFILE, no file/url/remote/s3 table functions, only allow-listed
// SETTINGS), and every statement runs on a read-only store: the embedded
// store's readonly connection, or readonly=1 on every query to a ClickHouse
// server. Every result is capped (max_rows, max_bytes) with an explicit
// `truncated` flag and the row count before truncation; every query carries
// max_execution_time (the engine stops it at the deadline) and a log_comment
// tag, by which a cancelled query is killed (KILL QUERY ... ASYNC).
//
// Threading: call(), cancel(), list() and the resources are thread-safe; a
// call blocks for the store's query (run it on a worker thread). The
// page-token cache of list_tables and the cached accelerators of the logs
// table are the only shared mutable state (a mutex each).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "serve/mcp/query_rewrite.h"
#include "store/store.h"

namespace kobs::serve::mcp {

using Json = nlohmann::ordered_json;

struct ToolsOptions {
  std::string database = "default";
  std::string logs_table = "otel_logs";
  std::string traces_table = "otel_traces";
  std::string events_table = "krateo_events";
  // Caps on every result: rows kept and bytes of the rows kept (JSON text).
  size_t max_rows = 10000;
  size_t max_bytes = 4 * 1024 * 1024;
  // The engine stops producing a result past this many rows
  // (result_overflow_mode = break), so a huge result costs no more than
  // this; the count before truncation is then a lower bound.
  size_t scan_rows = 1000000;
  std::chrono::milliseconds query_timeout{30000};
  // A ClickHouse server: readonly=1 and the caps go as request settings. The
  // embedded store's connection is read-only already and takes them in the
  // statement's SETTINGS clause.
  bool server_store = false;
  // Run queries on the logs table through its materialized lookups and the
  // text index of its map items (query_rewrite.h).
  bool rewrite_queries = true;
};

// One running tools/call: whether it was cancelled, and the tag of the query
// it runs (so cancel() can kill it).
class CallContext {
 public:
  bool cancelled() const { return cancelled_.load(); }

 private:
  friend class McpTools;
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::string running_tag_;
};

// Arguments that do not fit the tool's schema, or an unknown tool (JSON-RPC -32602).
struct InvalidParams {
  std::string message;
};

class McpTools {
 public:
  // `readonly` must be read-only (see above) and outlive this object.
  McpTools(store::IStore& readonly, ToolsOptions options, metrics::Registry* metrics);

  // tools/list's `tools` array.
  Json list() const;
  // tools/call: the CallToolResult. Throws InvalidParams for an unknown tool
  // or arguments of the wrong type; tool failures come back with isError.
  Json call(const std::string& name, const Json& arguments, CallContext* context = nullptr);
  // Marks the call cancelled and kills its running query, if any.
  void cancel(CallContext& context);

  Json resources() const;                                          // resources/list `resources`
  std::optional<Json> readResource(const std::string& uri) const;  // resources/read result
  Json prompts() const;                                            // prompts/list `prompts`
  std::optional<Json> getPrompt(const std::string& name) const;    // prompts/get result

  const ToolsOptions& options() const { return options_; }

 private:
  std::string listDatabases(CallContext* context);
  std::string listTables(const Json& args, CallContext* context);
  std::string runQuery(const Json& args, CallContext* context);
  std::string compositionTimeline(const Json& args, CallContext* context);
  std::string podErrors(const Json& args, CallContext* context);
  // Runs vetted or kobs's own SQL with the caps and the timeout; the result
  // as {"columns", "rows", "truncated", ...}.
  Json capped(const std::string& statement, bool has_settings_clause, CallContext* context);
  std::string schemaGuide() const;
  // `sql` rewritten for the logs table's accelerators (read from the store,
  // cached for a minute), or `sql` itself.
  std::string accelerated(const std::string& sql);

  store::IStore& store_;
  const ToolsOptions options_;
  std::atomic<uint64_t> query_seq_{0};
  std::string tag_prefix_;  // log_comment prefix of this process's queries

  struct PageState {
    std::string database, like, not_like;
    bool include_detailed_columns = true;
    std::vector<std::string> names;
    size_t start = 0;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex pages_mutex_;
  std::map<std::string, PageState> pages_;

  std::mutex accelerators_mutex_;
  std::shared_ptr<const Accelerators> accelerators_;
  std::chrono::steady_clock::time_point accelerators_loaded_;

  metrics::Histogram* query_seconds_ = nullptr;
  metrics::Counter* rewritten_ = nullptr;
  metrics::Counter* truncated_ = nullptr;
  metrics::Counter* killed_ = nullptr;
};

// A random 128-bit identifier in hex (sessions, page tokens).
std::string randomId();

}  // namespace kobs::serve::mcp
