// Opens the store the configuration names.
#pragma once

#include <memory>

#include "app/config.h"
#include "common/stop.h"
#include "store/store.h"

namespace kobs::app {

// `stop` cuts the store's blocking calls short at shutdown (a ClickHouse
// server's requests and retries; the embedded store does not wait on a network).
std::unique_ptr<store::IStore> openStore(const KobsConfig& config, StopToken stop = {});

}  // namespace kobs::app
