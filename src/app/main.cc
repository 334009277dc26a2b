// kobs: Kubernetes events, logs, traces and metrics into ClickHouse, and the
// APIs the Krateo frontend reads them through. One binary, several roles.
#include <iostream>

#include <CLI/CLI.hpp>

#include "app/config.h"
#include "app/process.h"
#include "app/top/top_command.h"
#include "common/error.h"
#include "common/logging.h"

int main(int argc, char** argv) {
  using namespace kobs;
  CLI::App cli{
      "kobs: Kubernetes events, pod logs, traces and metrics into ClickHouse (embedded chDB or a server),\n"
      "served to the Krateo frontend (REST /events, SSE /notifications) and to AI agents (MCP)."};
  cli.require_subcommand(1);
  cli.fallthrough();  // global options may follow the role: `kobs all --data-dir d`
  std::optional<std::string> config_path, data_dir;
  std::vector<std::string> overrides;
  bool demo = false;
  cli.add_option("--config", config_path, "YAML configuration file (keys below; environment variables override it)")
      ->check(CLI::ExistingFile);
  cli.add_option("--data-dir", data_dir, "Directory for the embedded store, disk buffer and checkpoints (default ./data)");
  cli.add_option("--set", overrides, "Override one configuration key: --set batch.max_rows=5000 (repeatable)");
  // As kubectl spells them; they set k8s.kubeconfig / k8s.context and win over --set and the environment.
  std::optional<std::string> kubeconfig, kube_context;
  cli.add_option("--kubeconfig", kubeconfig, "Kubeconfig of the cluster to watch (sets k8s.kubeconfig)")
      ->check(CLI::ExistingFile);
  cli.add_option("--context", kube_context, "Kubeconfig context to use (sets k8s.context)");

  auto* all = cli.add_subcommand("all", "Collect and serve in one process (embedded store by default)");
  all->add_flag("--demo", demo, "Feed a built-in Krateo scenario instead of (or besides) a cluster");
  auto* collect = cli.add_subcommand("collect", "Receivers -> disk buffer -> store; health and metrics on http.listen");
  auto* serve = cli.add_subcommand("serve", "The HTTP API over the store, without receivers");
  auto* alert = cli.add_subcommand("alert", "Evaluate the alert rules (alert.rules_file) over the store and notify");
  auto* schema = cli.add_subcommand("schema", "Print or apply the ClickHouse schema");
  schema->require_subcommand(1);
  bool ask_store = false;
  auto* schema_print = schema->add_subcommand("print", "Print the DDL kobs runs at start");
  schema_print->add_flag("--detect", ask_store, "Ask the store for its version first (default: assume ClickHouse 26.7)");
  auto* schema_apply = schema->add_subcommand("apply", "Create what is missing in the configured store, then exit");
  bool mcp_stdio = false;
  auto* mcp = cli.add_subcommand("mcp", "The MCP server for AI agents alone, over the configured store");
  mcp->add_flag("--stdio", mcp_stdio, "Serve MCP on stdin/stdout (one JSON-RPC message per line) for a local agent");
  auto* reference = cli.add_subcommand("config-reference", "Print every configuration key as a Markdown table (README)");
  app::top::TopOptions top_options;
  int top_interval_ms = 1000;
  auto* top = cli.add_subcommand("top", "Live view of a running kobs, from its /metrics (q quits)");
  top->add_option("--url", top_options.url, "The kobs main listener")->capture_default_str();
  top->add_flag("--once", top_options.once, "Print one table (rates over one interval) and exit");
  top->add_option("--interval-ms", top_interval_ms, "Refresh period")->capture_default_str()->check(CLI::Range(100, 60000));
  cli.set_version_flag("--version", KOBS_VERSION);

  cli.footer("Configuration keys (YAML file, env overrides, --set):\n" + app::configTable().textReference());
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }

  if (*top) {
    top_options.interval = std::chrono::milliseconds(top_interval_ms);
    return app::top::runTop(top_options);
  }
  if (*reference) {
    std::cout << app::configTable().markdownReference();
    return 0;
  }
  if (kubeconfig) overrides.push_back("k8s.kubeconfig=" + *kubeconfig);
  if (kube_context) overrides.push_back("k8s.context=" + *kube_context);
  try {
    auto config = app::loadConfig(config_path, overrides, data_dir);
    logging::init({config.log_level, config.log_format});
    if (*schema_print) return app::printSchema(config, ask_store);
    if (*schema_apply) return app::applySchema(config);
    if (*mcp) return app::runMcp(config, mcp_stdio);
    app::RunOptions run;
    run.role = *all       ? app::Role::kAll
               : *collect ? app::Role::kCollect
               : *alert   ? app::Role::kAlert
                          : app::Role::kServe;
    run.demo = demo;
    (void)serve;
    return app::runProcess(config, run);
  } catch (const Exception& e) {
    std::cerr << "kobs: " << e.what() << std::endl;
    return e.code() == ErrorCode::kBadConfig ? 2 : 1;
  } catch (const std::exception& e) {
    std::cerr << "kobs: " << e.what() << std::endl;
    return 1;
  }
}
