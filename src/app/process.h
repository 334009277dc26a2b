// The kobs process: builds the parts a role needs, runs until SIGTERM/SIGINT,
// and stops them in reverse order within shutdown.timeout.
//
//   all      collect + serve in one process (the default for `make run`)
//   collect  receivers -> pipeline -> store, plus /healthz /readyz /metrics
//   serve    the HTTP API over the store (no receivers, no disk buffer)
//   alert    the alert evaluator over the store, plus /healthz /readyz /metrics
//
// Threading: the main thread builds and tears down; a signal thread waits for
// SIGTERM/SIGINT; the store is (re)tried on the main thread until the schema
// is applied, while the HTTP listener already answers /healthz and /readyz.
#pragma once

#include <memory>
#include <string>

#include "app/config.h"

namespace kobs::app {

enum class Role { kAll, kCollect, kServe, kAlert };

inline const char* roleName(Role r) {
  switch (r) {
    case Role::kAll: return "all";
    case Role::kCollect: return "collect";
    case Role::kServe: return "serve";
    case Role::kAlert: return "alert";
  }
  return "?";
}

struct RunOptions {
  Role role = Role::kAll;
  bool demo = false;
};

// Runs until a termination signal; returns the process exit code.
int runProcess(const KobsConfig& config, const RunOptions& options);

// `kobs schema print`: the DDL kobs would run (server version assumed when
// the store cannot be asked) / `kobs schema apply`.
int printSchema(const KobsConfig& config, bool ask_store);
int applySchema(const KobsConfig& config);
// `kobs mcp`: the MCP server alone over the configured store, on stdio
// (`stdio`, or mcp.transport=stdio) until stdin ends, else its HTTP
// transports on mcp.listen until SIGTERM/SIGINT.
int runMcp(const KobsConfig& config, bool stdio);

}  // namespace kobs::app
