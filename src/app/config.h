// kobs configuration: every key, its default, its environment variable and
// its meaning, in one declarative table (configTable()); KobsConfig is the
// typed view the process is built from.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/config_table.h"
#include "pipeline/pipeline.h"
#include "serve/auth/authenticator.h"
#include "serve/mcp/mcp_config.h"
#include "store/schema/schema_options.h"

namespace kobs::app {

const config::Table& configTable();

struct StoreConfig {
  std::string kind;  // embedded | clickhouse
  std::string database;
  std::string embedded_library;
  bool embedded_skip_indexes_on_insert = false;
  uint64_t embedded_max_memory = 1ull << 30;  // 0: chDB's defaults
  std::string url, user, password, auth, compression;
  std::chrono::milliseconds connect_timeout{}, request_timeout{};
  int max_retries = 0;
  bool tls_verify = true;
};

// The frontend API (serve/events, serve/chcompat, serve/auth).
struct ServeConfig {
  std::string allow_origin;
  size_t events_max_limit = 1000;
  // /events/{id} from memory (serve/events/recent_events.h); rows 0: off.
  size_t recent_rows = 200;
  uint64_t recent_max_bytes = 64 << 20;
  std::chrono::milliseconds recent_idle{std::chrono::hours(1)};
  std::chrono::milliseconds sse_keepalive{}, sse_retry{}, sse_poll_interval{}, sse_lookback{};
  size_t sse_queue_frames = 1024;
  uint64_t sse_queue_bytes = 0;
  std::string clickhouse_listen;  // empty: no ClickHouse-compatible endpoint
  std::string clickhouse_users_file;  // empty: no authentication on it
  struct {  // the write path for node agents (serve/chcompat/write_path.h)
    bool enabled = false;
    std::string users_file;
    uint64_t max_body_bytes = 64 << 20;
    uint64_t max_queued_bytes = 256 << 20;
  } clickhouse_write;
  serve::auth::AuthOptions auth;
  // The events-presenter API (serve/presenter) on its own listener; empty: off.
  std::string presenter_listen;
  size_t presenter_default_limit = 50, presenter_max_limit = 500;
  size_t presenter_head_events = 20000;  // 0: no in-memory head
  std::chrono::milliseconds presenter_keepalive{25000};
  std::string cluster_name;  // global_uid prefix of rows written without k8s.cluster.name
};

struct KobsConfig {
  config::Values values;  // everything, for components that read their own keys
  std::string data_dir;
  std::string log_level, log_format;
  std::string listen;
  std::chrono::milliseconds shutdown_timeout{};
  StoreConfig store;
  store::schema::SchemaOptions schema;
  pipeline::PipelineOptions pipeline;
  ServeConfig serve;
  serve::mcp::McpConfig mcp;  // the MCP server (serve/mcp/mcp_config.h)
};

// Loads the YAML file (optional), the environment and --set overrides, then
// the command line's --data-dir (when given). Throws kBadConfig naming the key.
KobsConfig loadConfig(const std::optional<std::string>& path, const std::vector<std::string>& overrides,
                      const std::optional<std::string>& data_dir_flag);

}  // namespace kobs::app
