// Opens the store the configuration names.
#pragma once

#include <memory>
#include <vector>

#include "app/config.h"
#include "common/stop.h"
#include "store/store.h"

namespace kobs::app {

// `stop` cuts the store's blocking calls short at shutdown (a ClickHouse
// server's requests and retries; the embedded store does not wait on a network).
std::unique_ptr<store::IStore> openStore(const KobsConfig& config, StopToken stop = {});

// The stores of the sender's writers 2..N (sender.writers): the embedded
// store runs one insert at a time per instance, so each writer gets its own
// over the same engine; a server's store takes concurrent callers: none.
std::vector<std::unique_ptr<store::IStore>> openWriterStores(const KobsConfig& config, StopToken stop = {});

}  // namespace kobs::app
