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
#include "store/schema/schema_options.h"

namespace kobs::app {

const config::Table& configTable();

struct StoreConfig {
  std::string kind;  // embedded | clickhouse
  std::string database;
  std::string embedded_library;
  std::string url, user, password, auth, compression;
  std::chrono::milliseconds connect_timeout{}, request_timeout{};
  int max_retries = 0;
  bool tls_verify = true;
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
};

// Loads the YAML file (optional), the environment and --set overrides, then
// the command line's --data-dir (when given). Throws kBadConfig naming the key.
KobsConfig loadConfig(const std::optional<std::string>& path, const std::vector<std::string>& overrides,
                      const std::optional<std::string>& data_dir_flag);

}  // namespace kobs::app
