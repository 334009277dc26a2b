// Opens the store the configuration names.
#pragma once

#include <memory>

#include "app/config.h"
#include "store/store.h"

namespace kobs::app {

std::unique_ptr<store::IStore> openStore(const KobsConfig& config);

}  // namespace kobs::app
