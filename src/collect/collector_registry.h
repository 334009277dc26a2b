// The collectors kobs can run, registered by name through one explicit
// function (registerCollectors) rather than static initialisers, so the list
// is greppable and the link order does not matter.
//
// Threading: the registry is built and used on the main thread at start.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/component.h"
#include "common/config_table.h"
#include "common/metrics.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

namespace kobs::collect {

// What a collector may use. References outlive every collector.
struct CollectorContext {
  const config::Values& config;
  pipeline::Pipeline& pipeline;
  store::IStore& store;
  metrics::Registry& metrics;
  std::filesystem::path data_dir;
  bool demo = false;  // `kobs all --demo`: feed the built-in scenario
};

struct CollectorFactory {
  std::string name;
  // Returns nullptr when the collector is not enabled by the configuration.
  std::function<std::unique_ptr<Component>(const CollectorContext&)> create;
};

// Config keys every collector declares, appended to the process's table.
std::vector<config::KeySpec> collectorConfigKeys();

// Every collector, in start order.
std::vector<CollectorFactory> registerCollectors();

}  // namespace kobs::collect
