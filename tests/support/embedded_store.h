// The embedded store for tests. chDB boots one engine per process for one
// data path, so every store a test binary opens shares one temporary data
// dir (removed at exit); tests keep apart by database.
#pragma once

#include <memory>
#include <string>

#include "store/embedded/embedded_store.h"

namespace kobs::testing {

std::unique_ptr<store::EmbeddedStore> openEmbeddedStore(const std::string& database, int reader_connections = 2);

// The shared data dir (for tests that look at files under it).
const std::string& embeddedDataDir();

}  // namespace kobs::testing
