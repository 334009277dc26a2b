#include "collect/collector_registry.h"

namespace kobs::collect {

std::vector<config::KeySpec> collectorConfigKeys() { return {}; }

std::vector<CollectorFactory> registerCollectors() { return {}; }

}  // namespace kobs::collect
